"""`webhook`: serve the webhook receivers (POST /webhooks/sendgrid, POST /webhooks/postmark) with uvicorn."""

from __future__ import annotations

import logging

from commlog import config
from commlog.cli import CommandError
from commlog.commands import engine_from_args, utcnow
from commlog.unit_of_work import platform_reading


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "webhook",
        help="serve the webhook receivers (POST /webhooks/sendgrid, POST /webhooks/postmark)",
        description=(
            "Serve POST /webhooks/sendgrid and POST /webhooks/postmark. SendGrid's needs SENDGRID_WEBHOOK_PUBLIC_KEY "
            "(the Signed Event Webhook's verification key), Postmark's COMMLOG_POSTMARK_WEBHOOK_USER and "
            "COMMLOG_POSTMARK_WEBHOOK_PASSWORD (the basic auth in its webhook URL); without them every post to "
            "that receiver is refused with 503. Put it behind HTTPS (a reverse proxy)."
        ),
    )
    p.add_argument("--port", type=int, default=8502, help="port to listen on (default 8502)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument(
        "--match-unmatched",
        action="store_true",
        help="do not serve: move kept events onto messages that now exist, print how many, and exit",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    engine = engine_from_args(args)
    if args.match_unmatched:
        from sqlalchemy.exc import SQLAlchemyError

        from commlog.webhooks import postmark
        from commlog.webhooks.ingest import match_unmatched, pending_unmatched

        try:
            now = utcnow()
            n = match_unmatched(engine, now) + postmark.match_unmatched(engine, now)
            with platform_reading(engine) as conn:
                left = pending_unmatched(conn) + pending_unmatched(conn, postmark.PROVIDER)
        except SQLAlchemyError as exc:
            raise CommandError(f"database error while matching kept events: {type(exc).__name__}") from None
        print(f"matched {n} kept webhook events; {left} still wait for their message")
        return 0

    try:
        import uvicorn
    except ImportError:
        raise CommandError("uvicorn is not installed (pip install uvicorn)") from None
    from commlog.webhooks.app import SENDGRID_PATH, WebhookSettings, create_app
    from commlog.webhooks.postmark_receiver import POSTMARK_PATH, PostmarkWebhookSettings

    settings = WebhookSettings.from_config()
    postmark_settings = PostmarkWebhookSettings.from_config()
    logging.getLogger("commlog.webhooks").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(lambda: engine, settings, dispose_engine=True, postmark_settings=postmark_settings)
    url = config.masked_url(engine.url.render_as_string(hide_password=False))
    base = f"http://{args.host}:{args.port}"
    print(f"SendGrid webhook receiver on {base}{SENDGRID_PATH}, Postmark's on {base}{POSTMARK_PATH} -> {url}")
    if postmark_settings.missing():
        print(postmark_settings.missing())
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", server_header=False)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0
