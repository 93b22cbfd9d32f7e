"""Test settings: the real PostgreSQL and Redis servers, each with a database of the tests' own."""

import os

from autonomos.core import secrets as install_secrets

from .base import *  # noqa: F403
from .base import BASE_DIR, PASSWORD_HASHERS, REST_FRAMEWORK, SIMPLE_JWT, env

# Fixed keys, whatever the environment or var/secrets.env hold: the processes the tests start share
# them. They are published, so production and local settings refuse them.
SECRET_KEY = install_secrets.TEST_SECRET_KEY
SECRET_KEY_FALLBACKS = []
SIMPLE_JWT["SIGNING_KEY"] = install_secrets.TEST_JWT_SIGNING_KEY
CONNECTION_SECRETS_KEYS = [install_secrets.TEST_CONNECTION_KEY]

TEST_REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/9")
# pytest-xdist runs the suite in workers gw0, gw1, ...: pytest-django gives each a database of its own
# (test_<db>_gw0); each also gets a Redis db of its own (the given db + the worker's number, modulo
# Redis' 16) and a data folder of its own, because every test flushes its Redis db and wipes its folder.
# The processes a test starts inherit PYTEST_XDIST_WORKER, so they land on the same ones.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER.startswith("gw") and XDIST_WORKER[2:].isdigit():
    _base, _, _db = TEST_REDIS_URL.rstrip("/").rpartition("/")
    TEST_REDIS_URL = f"{_base}/{(int(_db) + int(XDIST_WORKER[2:])) % 16}" if _db.isdigit() else TEST_REDIS_URL
REDIS_URL = TEST_REDIS_URL
CACHES["default"]["LOCATION"] = TEST_REDIS_URL  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [TEST_REDIS_URL]  # noqa: F405
CELERY_BROKER_URL = TEST_REDIS_URL
CELERY_RESULT_BACKEND = TEST_REDIS_URL
# A fast hasher first: Argon2 is slow on purpose, and the suite hashes hundreds of passwords. The
# product's hashers follow, so an Argon2 hash still verifies. Production, local and base keep Argon2
# first (tests/security/test_password_hashers.py).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"auth": "1000/min", "auth_account": "1000/min", "user": "100000/min"}
# Login lockouts out of the way of the suite (tests/security/test_bruteforce.py sets its own), and
# axes' backend letting Django's test Client.login() through: it authenticates without a request.
AXES_FAILURE_LIMIT = 1000
AUTHENTICATION_BACKENDS = [  # noqa: F405
    "tests.security.backends.ClientLoginLockoutBackend" if name == "axes.backends.AxesStandaloneBackend" else name
    for name in AUTHENTICATION_BACKENDS  # noqa: F405
]
# The tests wipe it: a folder of their own, and one per run when several run at once (TEST_DATA_DIR).
DATA_DIR = BASE_DIR / env("TEST_DATA_DIR", default="var/test-data")  # a relative one is the checkout's
if XDIST_WORKER:
    DATA_DIR = DATA_DIR / XDIST_WORKER
SSE_MAX_SECONDS = 5
LLM_BASE_URL = ""
SLACK_WEBHOOK_URL = ""
AOD_BASE_URL = ""

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns about a missing root
# The tests' sessions do not wait for the WAL to reach the disk at each commit (the server keeps
# fsync; only a crash of the PostgreSQL server itself could lose a test's last commits): tenant
# schemas, committed tests and the processes they start commit thousands of times per run.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
