"""schemathesis hooks for deploy/schemathesis.sh.

An `Idempotency-Key` reused with another request is refused by design (422
`idempotencyKeyReused`), and the generator reuses its few header values across requests:
each request that carries one gets a key of its own, so the header is still exercised.
"""

import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # Negative cases keep what the generator made: whatever they carry is refused anyway.
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            # 32 hex digits: within the header's schema (1 to 255 visible ASCII characters).
            headers[name] = uuid.uuid4().hex
