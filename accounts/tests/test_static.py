import pytest


@pytest.mark.django_db
def test_admin_css_is_served(client):
    resp = client.get("/static/admin/css/base.css")
    assert resp.status_code == 200
    assert b"body" in b"".join(resp.streaming_content)
