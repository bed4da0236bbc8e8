import pytest
from tests.test_pages_repair import *
def test_peek(client, repairer, fake):
    c = ingested(UNANSWERED); client.force_login(repairer)
    r = client.post(url(c, "resume/"), {"expected": 1, "model": RESUME_MODEL, "continuation": ""}, HTTP_HX_REQUEST="true")
    print(r.content.decode()[:1500])
    config = (FIXTURES / "seed" / "proxy-config.yaml").read_text()
    r = client.post(url(c, "repair/"), {"action": "preview", "config": config, "group": "claude-3-5-sonnet-20241022"}, HTTP_HX_REQUEST="true")
    print(r.status_code, r.content.decode()[:3000])
