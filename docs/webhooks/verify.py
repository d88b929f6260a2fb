"""Verify an omno webhook signature (X-Omno-Signature: t=<unix>,v1=<hex>).

Usage: verify.py SECRET SIGNATURE_HEADER < raw_body   (exit 0 = valid)
"""
import hashlib
import hmac
import sys
import time


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t"), parts.get("v1")
    if not t or not v1 or not t.isdigit():
        return False
    if abs(time.time() - int(t)) > tolerance:
        return False  # stale: reject replays
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


if __name__ == "__main__":
    ok = verify(sys.argv[1], sys.argv[2], sys.stdin.buffer.read())
    print("valid" if ok else "invalid")
    sys.exit(0 if ok else 1)
