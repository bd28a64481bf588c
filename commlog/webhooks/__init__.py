"""Provider webhooks: the SendGrid Event Webhook receiver.

- `commlog.webhooks.signature`: ECDSA verification of SendGrid's signed webhook.
- `commlog.webhooks.ingest`: `ingest_sendgrid_batch`, `match_unmatched` (pure domain, no HTTP).
- `commlog.webhooks.app`: Starlette `routes(engine_factory)` / `create_app(engine_factory)`.
"""

from commlog.webhooks.ingest import IngestResult, ingest_sendgrid_batch, match_unmatched

__all__ = ["IngestResult", "ingest_sendgrid_batch", "match_unmatched"]
