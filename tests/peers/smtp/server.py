"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1:PORT that stores every message it
accepts in a Maildir-like folder, one JSON file per message in DIR/new/ (written to DIR/tmp/
first, then renamed), before it answers 250. The JSON holds the envelope and the message as a
mail client would read it: decoded headers and the decoded text body.

Usage: python server.py PORT DIR [USER:PASSWORD]
With USER:PASSWORD it offers AUTH PLAIN and LOGIN (without TLS) and takes mail only from a
client that logged in with exactly those. Prints 'ready' once it listens; exits 3 when the
port is taken; stops when stdin closes.
"""

import json
import os
import sys
import time
import uuid
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class JsonMaildir:
    def __init__(self, root):
        self.root = root
        for sub in ("tmp", "new"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        login = session.auth_data.login.decode() if session.auth_data else None
        record = {
            "login": login,
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "date": str(message.get("Date", "")),
            "message_id": str(message.get("Message-ID", "")),
            "content_type": str(message.get("Content-Type", "")),
            "list_unsubscribe": message.get("List-Unsubscribe") and str(message.get("List-Unsubscribe")),
            "list_unsubscribe_post": message.get("List-Unsubscribe-Post") and str(message.get("List-Unsubscribe-Post")),
            "body": message.get_content().replace("\r\n", "\n") if not message.is_multipart() else "",
        }
        name = f"{time.time_ns():020d}.{uuid.uuid4().hex}.json"
        tmp = os.path.join(self.root, "tmp", name)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.root, "new", name))
        return "250 Message accepted for delivery"


class Login:
    def __init__(self, user, password):
        self.expected = (user.encode(), password.encode())

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == self.expected
        return AuthResult(success=ok, auth_data=auth_data if ok else None)


def main():
    port, root = int(sys.argv[1]), sys.argv[2]
    options = {}
    if len(sys.argv) > 3:
        user, password = sys.argv[3].split(":", 1)
        options = dict(authenticator=Login(user, password), auth_required=True, auth_require_tls=False)
    controller = Controller(JsonMaildir(root), hostname="127.0.0.1", port=port, **options)
    try:
        controller.start()
    except OSError as e:
        print(f"cannot listen on 127.0.0.1:{port}: {e}", file=sys.stderr)
        sys.exit(3)
    print("ready", flush=True)
    # The test process holds the other end of stdin: when it exits, so does this server.
    sys.stdin.buffer.read()
    controller.stop()


if __name__ == "__main__":
    main()
