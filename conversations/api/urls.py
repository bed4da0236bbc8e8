from django.urls import path, re_path

from conversations.api import openapi, repairs, views
from conversations.api.http import endpoint, not_found

app_name = "api"
# The documented URLs have no trailing slash; not_found points a client that adds one to the right URL.
urlpatterns = [
    path("conversations", endpoint(GET=views.conversation_list, POST=views.conversation_create), name="conversations"),
    path("conversations/<int:pk>", endpoint(GET=views.conversation_get), name="conversation"),
    path("conversations/<int:pk>/revisions/<int:number>", endpoint(GET=views.revision_document), name="revision"),
    path("conversations/<int:pk>/repair", endpoint(POST=repairs.conversation_repair), name="repair"),
    path("ingest-jobs/<int:pk>", endpoint(GET=views.ingest_job_get), name="ingest-job"),
    path("openapi.json", openapi.schema_view, name="openapi"),
    re_path(r"^.*$", not_found),
]
