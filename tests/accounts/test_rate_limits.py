"""Login, sign-up and reset are rate-limited per IP and per account, on Redis."""

from __future__ import annotations

from tests.factories import make_user


def test_login_is_limited_per_account_with_a_429_page(app, client):
    app.config["LIMIT_AUTH_PER_ACCOUNT"] = "3 per minute"
    with app.app_context():
        make_user("luis@example.org")
    statuses = [
        client.post("/login", data={"email": "luis@example.org", "password": "equivocada-123"}).status_code
        for _ in range(4)
    ]
    assert statuses == [422, 422, 422, 429]
    page = client.post("/login", data={"email": "luis@example.org", "password": "x"})
    assert page.status_code == 429
    assert "Demasiados intentos" in page.get_data(as_text=True)
    # Another account from the same address is still let through.
    other = client.post("/login", data={"email": "otra@example.org", "password": "equivocada-123"})
    assert other.status_code == 422


def test_signup_is_limited_per_ip_across_accounts(app, client):
    app.config["LIMIT_AUTH_PER_IP"] = "2 per minute"
    data = {"name": "X", "password": "Mariposa-monarca-2026", "sector": "citizen", "accept_privacy": "y"}
    codes = [
        client.post("/signup", data={**data, "email": f"p{i}@example.org"}).status_code for i in range(3)
    ]
    assert codes == [200, 200, 429]
    # A different client IP has its own budget.
    other_ip = client.post(
        "/signup", data={**data, "email": "p9@example.org"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other_ip.status_code == 200


def test_password_reset_request_is_limited(app, client):
    app.config["LIMIT_AUTH_PER_ACCOUNT"] = "2 per minute"
    codes = [client.post("/password/forgot", data={"email": "a@example.org"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_api_token_endpoint_answers_429_in_json(app, client):
    app.config["LIMIT_AUTH_PER_ACCOUNT"] = "2 per minute"
    body = {"email": "a@example.org", "password": "equivocada-123"}
    codes = [client.post("/api/v1/tokens", json=body).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    response = client.post("/api/v1/tokens", json=body)
    assert response.status_code == 429
    assert response.json["error"]["code"] == "rate_limited"
    assert "Retry-After" in response.headers or "X-RateLimit-Reset" in response.headers
