import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inspector.settings")
application = get_wsgi_application()

from conversations.startup import require_secret_key, routes_read, warm_up  # noqa: E402  (needs settings loaded)

require_secret_key(settings)
warm_up()
routes_read()
