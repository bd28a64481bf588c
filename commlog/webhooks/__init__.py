"""Provider webhooks: SendGrid's Event Webhook and Postmark's webhooks.

- `commlog.webhooks.signature`: ECDSA verification of SendGrid's signed webhook.
- `commlog.webhooks.ingest`: `ingest_sendgrid_batch`, `match_unmatched`; `ingest_events`,
  `match_kept_events` for providers whose events name their message by id (pure domain, no HTTP).
- `commlog.webhooks.postmark`: Postmark's records read into events (`parse_record`), stored and
  matched later through `ingest`.
- `commlog.webhooks.body`: a request body read under the size limit.
- `commlog.webhooks.app`: SendGrid's Starlette `routes(engine_factory)` / `create_app(engine_factory)`
  (both receivers); `commlog.webhooks.postmark_receiver`: Postmark's `routes(engine_factory)`.
"""

from commlog.webhooks.ingest import IngestResult, ingest_sendgrid_batch, match_unmatched

__all__ = ["IngestResult", "ingest_sendgrid_batch", "match_unmatched"]
