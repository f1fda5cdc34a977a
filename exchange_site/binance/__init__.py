"""The Binance Spot v3 compatible HTTP layer shared by every /api/v3/ endpoint.

The contract is docs/api.md (Binance Spot v3). Pieces:

- params:    typed parameter declarations; request validation and OpenAPI parameters
- signing:   the SIGNED payload and HMAC-SHA256 check
- auth:      the interface to the API keys (settings.API_KEY_AUTHENTICATOR; accounts.apikeys)
- ratelimit: request weight and order counts in Redis
- endpoint:  the `endpoint` decorator (security, weight, params, response schema) and `route`
- schema:    the OpenAPI 3 document, generated from the endpoint declarations
- views:     schema, docs page, JSON 404

Endpoints are plain async Django views: under daphne a sync view would run on the one shared
thread and serialise every request. Blocking work (ORM, sync Redis) goes through `db.db_call`.
"""
