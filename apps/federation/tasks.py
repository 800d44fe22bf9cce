"""Celery entry points of the federation outbox; each is idempotent and safe to run twice."""

from celery import shared_task

from apps.federation import services


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(services.DeliveryRetryable,),
    max_retries=services.MAX_ATTEMPTS - 1,
    retry_backoff=services.BACKOFF_BASE_SECONDS,
    retry_backoff_max=services.BACKOFF_MAX_SECONDS,
    retry_jitter=False,
)
def outbox_deliver_task(*, envelope_id: str) -> str:
    """Hand one outbox envelope to its recipient; a transient failure is retried with backoff."""
    envelope, retry = services.outbox_deliver(envelope_id=envelope_id)
    if retry:
        raise services.DeliveryRetryable(f"envelope {envelope_id}: {envelope.last_error}")
    return envelope.status


@shared_task(acks_late=True, ignore_result=True)
def outbox_resend_pending_task() -> int:
    """Beat: send again what is pending and due (recovers a crash between commit and hand-over)."""
    return services.outbox_resend_pending()
