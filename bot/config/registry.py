"""The registry: every environment variable madoguchi reads, by area (bot.config reads it)."""

from __future__ import annotations

from bot.config.setting import Setting

# --- the registry -------------------------------------------------------------------------------
RUNTIME = "Runtime and storage"
KEYS = "Keys"
RASA = "Rasa and the action server"
RETENTION = "Retention"
STAFF = "Staff app and public address"
NOTIFY = "Ticket outbox and staff notifications"
TICKETS = "Callback tickets"
CHANNELS = "Channels"
LAUNCHER = "Production launcher and balancer"
DEVELOPMENT = "Development and tests"

#: Each area's heading in docs/configuration.md, in order, with a line about it.
AREAS: tuple[tuple[str, str], ...] = (
    (RUNTIME, "Where madoguchi keeps its data, and what marks a production process."),
    (
        KEYS,
        "Secrets shared by every process. Outside production a missing key is generated once in "
        "MADOGUCHI_VAR_DIR (mode 0600); with MADOGUCHI_ENV=production it is an error.",
    ),
    (RASA, "How Rasa, the action server and this machine's own callers reach each other."),
    (RETENTION, "How long personal data is kept (docs/privacy.md); the purge applies them."),
    (STAFF, "The staff web app (staff/) and the address people reach."),
    (NOTIFY, "The spool of tickets not yet stored, and the notices staff get about new tickets."),
    (
        TICKETS,
        "How many callback tickets one sender may book (issue 21, M-5): past the limit the bot books "
        "none and says that a request is already with the staff, with the 24-hour lines.",
    ),
    (
        CHANNELS,
        "The LINE, Telegram and REST connectors. channels/ still reads these variables itself (a "
        "credentials.yml key wins over the variable there) until its reads move to this registry, the "
        "next step of issue 19; they are declared here so that the reference is complete.",
    ),
    (
        LAUNCHER,
        "deploy/: the two-instance launcher (make run-production), the systemd units and the nginx "
        "balancer. Some are read by Rasa from deploy/endpoints.production.yml rather than by Python.",
    ),
    (
        DEVELOPMENT,
        "Evaluation, CI stages and the test harness. scripts/ (run by path, outside the package) and the "
        "harness in tests/ read their variables directly; they are declared here so that the reference "
        "is complete.",
    ),
)

GENERATED_KEY = "generated in MADOGUCHI_VAR_DIR/{file} (an error in production)"

SETTINGS: tuple[Setting, ...] = (
    # --- runtime and storage
    Setting(
        "MADOGUCHI_ENV",
        "str",
        "",
        "Set to production for the production rules: a missing key is an error, never generated "
        "(bot.security.keys); the staff app trusts one proxy and sets the Secure cookie (staff.web).",
        RUNTIME,
    ),
    Setting(
        "MADOGUCHI_VAR_DIR",
        "path",
        "var",
        "The installation's private directory (0700): generated keys, SQLite databases, the ticket "
        "spool (bot.security.keys.var_dir).",
        RUNTIME,
    ),
    Setting(
        "MADOGUCHI_DB_URL",
        "url",
        None,
        "SQLAlchemy URL of madoguchi's database: tickets, consent, channel ids, webhook dedup, staff "
        "accounts, audit log (bot.store.db; deploy.init_db requires it).",
        RUNTIME,
        shown="sqlite:///MADOGUCHI_VAR_DIR/madoguchi.db",
    ),
    Setting(
        "MADOGUCHI_TRACKER_DB_URL",
        "url",
        None,
        "SQLAlchemy URL of Rasa's conversation store: the one setting the tracker store, erasure and "
        "the purge read (bot.services.erasure.tracker_db_url; deploy.init_db requires it).",
        RUNTIME,
        shown="sqlite:///MADOGUCHI_VAR_DIR/tracker.db",
    ),
    Setting(
        "MADOGUCHI_DIRECTORY",
        "path",
        "directory/windows.yml",
        "The directory of support windows, hotlines and service hours (bot.domain.directory).",
        RUNTIME,
    ),
    Setting(
        "MADOGUCHI_NOW",
        "str",
        "",
        "Starts this process's clock at this ISO 8601 moment (no offset: Japan time) and lets it run "
        "on, for demos and tests (bot.clock).",
        RUNTIME,
    ),
    # --- keys
    Setting(
        "MADOGUCHI_SENDER_KEY",
        "str",
        None,
        "HMAC key that turns platform user ids into pseudonymous sender ids (bot.security.pseudonym).",
        KEYS,
        secret=True,
        shown=GENERATED_KEY.format(file="sender.key"),
    ),
    Setting(
        "MADOGUCHI_FERNET_KEYS",
        "list",
        None,
        "Fernet keys, newest first: encrypt tickets, conversations and the spool; older keys still "
        "decrypt (bot.security.crypto).",
        KEYS,
        secret=True,
        shown=GENERATED_KEY.format(file="fernet.key"),
    ),
    Setting(
        "MADOGUCHI_STATS_KEY",
        "str",
        None,
        "HMAC key of the statistics rows' person and conversation keys (bot.store.stats).",
        KEYS,
        secret=True,
        shown=GENERATED_KEY.format(file="stats.key"),
    ),
    Setting(
        "MADOGUCHI_STAFF_SECRET",
        "str",
        None,
        "Signs the staff app's session cookie (staff.create_app).",
        KEYS,
        secret=True,
        shown=GENERATED_KEY.format(file="staff_secret.key"),
    ),
    # --- Rasa and the action server
    Setting(
        "MADOGUCHI_RASA_URL",
        "url",
        "http://127.0.0.1:5005",
        "Where this machine's own callers (the spool's announcements, the staff app) reach Rasa's HTTP "
        "API (bot.services.rasa_api); deploy.preflight refuses plain http to another machine. RASA_URL "
        "is the deprecated old name, read only when this is unset (channels.telegram_admin still "
        "reads RASA_URL itself).",
        RASA,
        aliases=("RASA_URL",),
    ),
    Setting(
        "RASA_API_TOKEN",
        "str",
        "",
        "Token on Rasa's HTTP API: deploy.rasa_serve gives it to Rasa in-process, bot.services.rasa_api "
        "sends it; required, 16 characters or more, in production and off loopback (deploy.preflight).",
        RASA,
        secret=True,
    ),
    Setting(
        "RASA_API_TOKEN_FILE",
        "path",
        None,
        "A file holding Rasa's API token, read by deploy.rasa_serve instead of RASA_API_TOKEN.",
        RASA,
    ),
    Setting(
        "MADOGUCHI_ACTIONS_URL",
        "url",
        None,
        "The action server's webhook that Rasa calls, read by Rasa from deploy/endpoints.production.yml; "
        "deploy.processes sets it for every unit.",
        RASA,
        shown="set by the launchers",
    ),
    Setting(
        "SANIC_HOST",
        "str",
        "127.0.0.1",
        "Where the action server (Sanic) binds; the launchers set 127.0.0.1 and deploy.preflight "
        "refuses anything else in production.",
        RASA,
    ),
    Setting(
        "MADOGUCHI_RASA_FIXES",
        "bool",
        True,
        "0 leaves Rasa as shipped, without the cached schema validation and the lean GiNZA loader, for "
        "A/B runs of the bench (bot.rasa_plugins.runtime).",
        RASA,
    ),
    Setting(
        "MADOGUCHI_LOCK_MAX_WAIT",
        "float",
        None,
        "Seconds a message waits for its conversation's Redis lock (deploy.lock_store; max_wait in the "
        "endpoints file wins).",
        RASA,
        shown="no limit",
    ),
    Setting(
        "MADOGUCHI_REDIS_HOST",
        "str",
        None,
        "Redis host of the lock store, read by Rasa from deploy/endpoints.production.yml (deploy.lock_store).",
        RASA,
        shown="required in production",
    ),
    Setting(
        "MADOGUCHI_REDIS_PORT",
        "int",
        None,
        "Redis port of the lock store (deploy/endpoints.production.yml).",
        RASA,
        shown="required in production",
    ),
    Setting(
        "MADOGUCHI_REDIS_DB",
        "int",
        None,
        "Redis database number of the lock store (deploy/endpoints.production.yml).",
        RASA,
        shown="required in production",
    ),
    Setting(
        "MADOGUCHI_REDIS_PREFIX",
        "str",
        None,
        "Prefix of the lock store's Redis keys, letters and digits (deploy/endpoints.production.yml).",
        RASA,
        shown="required in production",
    ),
    Setting(
        "MADOGUCHI_RABBITMQ_HOST",
        "str",
        None,
        "Host of the optional RabbitMQ event broker, commented out in deploy/endpoints.production.yml.",
        RASA,
    ),
    Setting(
        "MADOGUCHI_RABBITMQ_PORT",
        "int",
        None,
        "Port of the optional RabbitMQ event broker (deploy/endpoints.production.yml).",
        RASA,
    ),
    Setting(
        "MADOGUCHI_RABBITMQ_USER",
        "str",
        None,
        "User of the optional RabbitMQ event broker (deploy/endpoints.production.yml).",
        RASA,
    ),
    Setting(
        "MADOGUCHI_RABBITMQ_PASSWORD",
        "str",
        None,
        "Password of the optional RabbitMQ event broker (deploy/endpoints.production.yml).",
        RASA,
        secret=True,
    ),
    # --- retention
    Setting(
        "MADOGUCHI_RETENTION_EVENT_DAYS",
        "int",
        30,
        "Days conversations, and the answers a new session carries over, are kept (bot.domain.retention; "
        "the purge, the privacy notice).",
        RETENTION,
    ),
    Setting(
        "MADOGUCHI_RETENTION_TICKET_DAYS",
        "int",
        180,
        "Days closed tickets and their consent records are kept (bot.domain.retention; the purge, the privacy notice).",
        RETENTION,
    ),
    Setting(
        "MADOGUCHI_RETENTION_STATS_LINK_DAYS",
        "int",
        365,
        "Days after a fiscal year ends before its statistics rows are unlinked from their people "
        "(bot.store.stats_link).",
        RETENTION,
    ),
    # --- staff app and public address
    Setting(
        "MADOGUCHI_PUBLIC_URL",
        "url",
        None,
        "The https address people reach: the greeting links to its /privacy (bot.domain.privacy_notice), "
        "staff notices link to tickets under it (bot.services.notify), https turns the Secure cookie on "
        "(staff.web).",
        STAFF,
        shown="unset: the greeting shows the notice's text; notices link to http://127.0.0.1:8000",
    ),
    Setting(
        "MADOGUCHI_PRIVACY_URL",
        "url",
        None,
        "A privacy notice hosted elsewhere: the greeting links to it instead of MADOGUCHI_PUBLIC_URL/privacy "
        "(bot.domain.privacy_notice).",
        STAFF,
    ),
    Setting(
        "MADOGUCHI_PRIVACY_PATH",
        "path",
        "docs/privacy.md",
        "The Markdown file the staff app serves at /privacy (staff.public).",
        STAFF,
    ),
    Setting(
        "HOST",
        "str",
        "127.0.0.1",
        "Bind address of make run's Rasa and of python -m staff (staff.__main__); off loopback, "
        "deploy.preflight requires RASA_API_TOKEN and MADOGUCHI_REST_TOKEN.",
        STAFF,
    ),
    Setting(
        "STAFF_PORT",
        "int",
        None,
        "Port of the staff app (staff.__main__, deploy.processes, deploy.nginx).",
        STAFF,
        shown="8000 (python -m staff, make run); 8001 (production)",
    ),
    Setting(
        "MADOGUCHI_STAFF_SESSION_MINUTES",
        "int",
        30,
        "Minutes of inactivity that end a staff session (staff.create_app).",
        STAFF,
    ),
    Setting(
        "MADOGUCHI_STAFF_SESSION_MAX_HOURS",
        "float",
        8.0,
        "Hours from login that end a staff session whatever the activity (staff.web).",
        STAFF,
    ),
    Setting(
        "MADOGUCHI_STAFF_LOGINS_PER_MINUTE",
        "int",
        10,
        "Login attempts per client address and minute (staff.create_app).",
        STAFF,
    ),
    Setting(
        "MADOGUCHI_STAFF_HASH_WORKERS",
        "int",
        2,
        "Password verifications (argon2, 64 MiB each) that run at once, at least 1; read when "
        "staff.accounts is imported.",
        STAFF,
    ),
    Setting(
        "MADOGUCHI_STAFF_PROXIES",
        "int",
        None,
        "Reverse proxies in front of the staff app whose X-Forwarded-For and -Proto are trusted, 0 or "
        "more (staff.web).",
        STAFF,
        shown="1 in production, else 0",
    ),
    Setting(
        "MADOGUCHI_STAFF_SECURE_COOKIE",
        "bool",
        False,
        "1 sets the Secure cookie and HSTS outside production too; they are on in production and with an "
        "https MADOGUCHI_PUBLIC_URL anyway (staff.web).",
        STAFF,
    ),
    Setting(
        "MADOGUCHI_STAFF_PASSWORD",
        "str",
        "",
        "The password for python -m staff.users (make staff-user) without a prompt (staff.users).",
        STAFF,
        secret=True,
    ),
    # --- ticket outbox and staff notifications
    Setting(
        "MADOGUCHI_OUTBOX_INTERVAL",
        "float",
        5.0,
        "Seconds between the action server's retries of spooled tickets (bot.services.outbox); at least "
        "0.05, a value that is not a number gives the default.",
        NOTIFY,
    ),
    Setting(
        "MADOGUCHI_OUTBOX_MAX_BACKOFF",
        "float",
        60.0,
        "Longest wait in seconds between two attempts at one spooled ticket (bot.services.outbox); at least "
        "0.05, a value that is not a number gives the default.",
        NOTIFY,
    ),
    Setting(
        "STAFF_NOTIFY_INTERVAL",
        "float",
        5.0,
        "Seconds between the staff app's notification delivery rounds; 0 turns the worker off "
        "(staff.__main__, staff.gunicorn_conf).",
        NOTIFY,
    ),
    Setting(
        "STAFF_TELEGRAM_BOT_TOKEN",
        "str",
        "",
        "Bot token of the staff notices; unset: TELEGRAM_BOT_TOKEN (bot.services.notify).",
        NOTIFY,
        secret=True,
    ),
    Setting(
        "STAFF_TELEGRAM_CHAT_ID",
        "str",
        "",
        "Telegram group told of each new ticket; with neither it nor e-mail set, notices wait in the "
        "outbox (bot.services.notify).",
        NOTIFY,
    ),
    Setting(
        "STAFF_ONCALL_TELEGRAM_CHAT_ID",
        "str",
        "",
        "Telegram chat told of urgent tickets out of hours; unset: the directory's "
        "service.on_call_contact (bot.services.notify).",
        NOTIFY,
    ),
    Setting(
        "STAFF_SMTP_URL",
        "url",
        "",
        "Mail server of the e-mail notices, smtp://user:pass@host:587 (STARTTLS when offered) or "
        "smtps://user:pass@host:465 (bot.services.notify).",
        NOTIFY,
        secret=True,
    ),
    Setting(
        "STAFF_NOTIFY_EMAIL",
        "list",
        (),
        "Addresses of the e-mail notices, comma-separated (bot.services.notify).",
        NOTIFY,
    ),
    Setting(
        "STAFF_NOTIFY_FROM",
        "str",
        "",
        "Sender address of the e-mail notices (bot.services.notify).",
        NOTIFY,
        shown="madoguchi@ the mail server's host",
    ),
    Setting(
        "TELEGRAM_API_BASE_URL",
        "url",
        "https://api.telegram.org",
        "Telegram Bot API base, for the staff notices (bot.services.notify) and the channel (channels.telegram).",
        NOTIFY,
    ),
    # --- callback tickets
    Setting(
        "MADOGUCHI_TICKETS_PER_SENDER",
        "int",
        3,
        "Callback tickets one sender (its pseudonymous id) may book within MADOGUCHI_TICKET_WINDOW_HOURS; "
        "0 = no cap. Every ticket booked in the window counts, whatever its status "
        "(bot.domain.ticket_limits, bot.store.tickets.count_recent_tickets, actions.callback).",
        TICKETS,
    ),
    Setting(
        "MADOGUCHI_TICKET_WINDOW_HOURS",
        "int",
        24,
        "The rolling window, in hours, of MADOGUCHI_TICKETS_PER_SENDER; at least 1 (bot.domain.ticket_limits).",
        TICKETS,
    ),
    # --- channels (read by channels/ itself until its move)
    Setting(
        "LINE_CHANNEL_SECRET",
        "str",
        "",
        "Checks the signature of LINE's webhooks; empty: the LINE channel is off (channels.line).",
        CHANNELS,
        secret=True,
    ),
    Setting(
        "LINE_CHANNEL_ACCESS_TOKEN",
        "str",
        "",
        "LINE Messaging API token for replies, pushes and the rich menu (channels.line, channels.richmenu).",
        CHANNELS,
        secret=True,
    ),
    Setting(
        "LINE_API_BASE_URL",
        "url",
        "https://api.line.me",
        "LINE Messaging API base (channels.line, channels.richmenu).",
        CHANNELS,
    ),
    Setting(
        "LINE_API_DATA_BASE_URL",
        "url",
        None,
        "LINE data API base for the rich menu image (channels.richmenu).",
        CHANNELS,
        shown="https://api-data.line.me with the default API base, else LINE_API_BASE_URL",
    ),
    Setting(
        "LINE_HTTP_TIMEOUT",
        "float",
        10.0,
        "Seconds for each call to LINE's API (channels.line).",
        CHANNELS,
    ),
    Setting(
        "TELEGRAM_BOT_TOKEN",
        "str",
        "",
        "The Telegram bot's token; empty: the Telegram channel is off (channels.telegram, "
        "channels.telegram_admin; bot.services.notify without STAFF_TELEGRAM_BOT_TOKEN).",
        CHANNELS,
        secret=True,
    ),
    Setting(
        "TELEGRAM_SECRET_TOKEN",
        "str",
        "",
        "The secret Telegram sends with each webhook call (channels.telegram, channels.telegram_admin).",
        CHANNELS,
        secret=True,
    ),
    Setting(
        "TELEGRAM_HTTP_TIMEOUT",
        "float",
        10.0,
        "Seconds for each call to Telegram's API (channels.telegram).",
        CHANNELS,
    ),
    Setting(
        "MADOGUCHI_REST_TOKEN",
        "str",
        "",
        "Bearer token the REST channel requires when set; needed off loopback and with "
        "MADOGUCHI_REST_PUBLIC=1 (channels.rest, deploy.preflight).",
        CHANNELS,
        secret=True,
    ),
    Setting(
        "MADOGUCHI_REST_PUBLIC",
        "bool",
        False,
        "1 publishes the REST channel on the balancer's public listener (deploy.nginx, deploy.preflight).",
        CHANNELS,
    ),
    Setting(
        "MADOGUCHI_REST_RATE_SENDER",
        "str",
        "20/10",
        "REST messages per sender, per-minute[/burst] (channels.rest).",
        CHANNELS,
    ),
    Setting(
        "MADOGUCHI_REST_RATE_ADDRESS",
        "str",
        "60/30",
        "REST messages per client address, per-minute[/burst] (channels.rest).",
        CHANNELS,
    ),
    Setting(
        "MADOGUCHI_MAX_TURNS",
        "int",
        8,
        "Concurrent Rasa turns per process for the LINE, Telegram and REST channels, 0 = no cap (channels.common).",
        CHANNELS,
    ),
    Setting(
        "MADOGUCHI_CJK_FONT",
        "path",
        None,
        "A Japanese font for drawing the rich menu (channels.richmenu).",
        CHANNELS,
        shown="Debian's fonts-noto-cjk",
    ),
    # --- production launcher and balancer
    Setting(
        "MADOGUCHI_MODEL",
        "path",
        None,
        "The model archive: the systemd units serve it (ExecStart), tools.nlu_eval and the stack tests use it.",
        LAUNCHER,
        shown="the newest models/*.tar.gz",
    ),
    Setting(
        "RUN_DIR",
        "path",
        None,
        "The launcher's working directory, which deploy.nginx writes into the balancer's configuration.",
        LAUNCHER,
        shown="var/two-instances (deploy/run_two_instances.sh)",
    ),
    Setting("LB_HOST", "str", "127.0.0.1", "Address of the balancer's public listener (deploy.nginx).", LAUNCHER),
    Setting("LB_PORT", "int", 8080, "Port of the balancer's public listener (deploy.nginx).", LAUNCHER),
    Setting(
        "LB_INTERNAL_PORT",
        "int",
        8081,
        "Port of the balancer's listener for this machine: Rasa's API and every webhook (deploy.nginx).",
        LAUNCHER,
    ),
    Setting(
        "LB_ROUTING",
        "str",
        "sticky",
        "sticky (a sender always reaches the same replica) or round_robin (deploy.nginx).",
        LAUNCHER,
    ),
    Setting(
        "RASA1_PORT",
        "int",
        None,
        "Port of the first Rasa replica (deploy.processes, deploy.nginx).",
        LAUNCHER,
        shown="5006",
    ),
    Setting(
        "RASA2_PORT",
        "int",
        None,
        "Port of the second Rasa replica (deploy.processes, deploy.nginx).",
        LAUNCHER,
        shown="5007",
    ),
    Setting(
        "ACTIONS_PORT",
        "int",
        None,
        "Port of the action server (deploy.processes).",
        LAUNCHER,
        shown="5056 (production); 5055 (make run)",
    ),
    Setting(
        "RASA_CREDENTIALS",
        "path",
        None,
        "Rasa's credentials file for the launcher's replicas (deploy.processes).",
        LAUNCHER,
        shown="credentials.yml",
    ),
    Setting(
        "RASA_ENDPOINTS",
        "path",
        None,
        "Rasa's endpoints file for the launcher's replicas (deploy.processes).",
        LAUNCHER,
        shown="deploy/endpoints.production.yml",
    ),
    Setting(
        "PURGE_EVERY_S",
        "int",
        None,
        "Seconds between two purges under the launcher (deploy.processes).",
        LAUNCHER,
        shown="3600",
    ),
    Setting(
        "MADOGUCHI_TRUSTED_PROXIES",
        "list",
        (),
        "Addresses or networks whose X-Forwarded-For names the client at the balancer, separated by "
        "blanks or commas; empty: nobody (deploy.nginx).",
        LAUNCHER,
        separator=r"[\s,]+",
    ),
    # --- development and tests
    Setting(
        "MADOGUCHI_CV_SEED",
        "int",
        42,
        "Seed of the NLU cross-validation's fold split (tools.nlu_cv, tools.nlu_eval).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_NLU_CV_CACHE",
        "bool",
        True,
        "0 runs the NLU cross-validation again instead of reusing the result for unchanged inputs (tools.nlu_eval).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_PIP_AUDIT_SERVICE",
        "str",
        "pypi",
        "Advisory source of the pip-audit stage, pypi or osv (scripts/pip_audit.py).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_PIP_AUDIT_OSV_URL",
        "url",
        "",
        "An OSV mirror for the pip-audit stage (scripts/pip_audit.py).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_PIP_AUDIT_IGNORE",
        "path",
        "deploy/pip-audit-ignore.txt",
        "The pip-audit stage's accepted advisories, one a line with its reason (scripts/pip_audit.py).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_PIP_AUDIT_TIMEOUT",
        "float",
        50.0,
        "Seconds for the whole pip-audit run (scripts/pip_audit.py).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_PIP_AUDIT_OFFLINE_OK",
        "bool",
        False,
        "1 lets the pip-audit stage pass when the advisories cannot be read, still saying NOT AUDITED "
        "(scripts/pip_audit.py; CI).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_CLOCK_SHIFT",
        "str",
        "+1160d",
        "How far scripts/shifted_clock_tests.sh moves the clock (faketime) for its run of the tests.",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_EARLY_STACK",
        "bool",
        True,
        "0 stops the test session from starting Rasa early on the other core (tests/early.py).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_RASA_START_TIMEOUT",
        "float",
        900.0,
        "Seconds the reliability tests wait for Rasa to start (tests/reliability).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_FUZZ_EXAMPLES",
        "int",
        800,
        "Examples per property of the fuzz tests (tests/fuzz).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_REQUIRE_BROWSER",
        "bool",
        False,
        "1 fails the browser tests instead of skipping them when Chromium is missing (tests/staff).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_CHROMIUM",
        "path",
        "/usr/bin/chromium",
        "The Chromium the browser tests drive (tests/staff).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_CHROMEDRIVER",
        "path",
        "/usr/bin/chromedriver",
        "The chromedriver of the browser tests (tests/staff).",
        DEVELOPMENT,
    ),
    Setting(
        "MADOGUCHI_SCREENSHOT_DIR",
        "path",
        None,
        "Where the browser tests save screenshots, e.g. docs/screenshots; unset: none (tests/staff).",
        DEVELOPMENT,
    ),
)
