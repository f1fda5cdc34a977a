import pytest
from django.http import StreamingHttpResponse
from django.test import Client


@pytest.mark.django_db
def test_admin_css_is_served(client: Client) -> None:
    resp = client.get("/static/admin/css/base.css")
    assert resp.status_code == 200
    assert isinstance(resp, StreamingHttpResponse)
    assert b"body" in b"".join(resp.streaming_content)
