"""The backup service (issue #32 item 1): its settings, its place in the graph, its schedules and
metrics. The service against a real MinIO and PostgreSQL: tests/integration/test_backup_service.py;
deployed by `pulumi up` with a database container: tests/e2e/test_real_backups.py."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from components.backup_service import (
    CONFIG_EXPORT_KEY_FILE,
    CONFIG_FILE,
    GATEWAY_CERTIFICATE_FILE,
    PGPASS_FILE,
    SEAL_KEY_FILE,
    SECRET_KEY_FILE,
)
from components.monitoring import BACKUP_ALERTS, BACKUP_JOB, RULES_FILE
from components.settings import SettingsError, settings_from_config
from day2.schedules import cron_trigger
from day2.service import RUN_TIMEOUT_SECONDS, BackupService, Schedule, ServiceConfig, private_pgpass
from synth.mocks import is_secret
from tests.graph import CONTAINER, plain

SCHEDULE = {
    "database": "app",
    "host": "db",
    "user": "backup",
    "schedule": "*/5 * * * *",
    "drill": "0 4 * * sun",
}
WITH_BACKUPS = {"backups": {"schedules": [SCHEDULE]}, "backupPgpass": {"secure": "x"}}
PGPASS = "db:5432:*:backup:s3cret-pw"


def settings(backups: dict, pgpass: str | None = PGPASS, **more):
    values = {"backups": backups, **more}
    if pgpass is not None:
        values["backupPgpass"] = pgpass
    return settings_from_config(values, frozenset({"backupPgpass"}))


def refused(backups: dict, key: str, pgpass: str | None = PGPASS, **more) -> str:
    with pytest.raises(SettingsError) as raised:
        settings(backups, pgpass, **more)
    assert key in str(raised.value), raised.value
    return str(raised.value)


def test_cron_expressions_are_apschedulers_with_days_by_name():
    assert (
        cron_trigger("0 4 * * sun").get_next_fire_time(None, datetime(2026, 12, 7, tzinfo=UTC)).weekday() == 6
    )
    with pytest.raises(ValueError, match="name the days of the week"):
        cron_trigger("0 4 * * 0")  # APScheduler's 0 is Monday, cron's is Sunday
    for wrong in ("61 * * * *", "* * *", "every day"):
        with pytest.raises(ValueError):
            cron_trigger(wrong)


@pytest.mark.parametrize(
    ("backups", "key", "pgpass"),
    [
        ({"schedules": [{**SCHEDULE, "schedule": "0 4 * * 0"}]}, "backups.schedules[0].schedule", PGPASS),
        ({"schedules": [{**SCHEDULE, "schedule": "nightly"}]}, "backups.schedules[0].schedule", PGPASS),
        ({"schedules": [{**SCHEDULE, "database": "app; drop"}]}, "backups.schedules[0].database", PGPASS),
        ({"schedules": [SCHEDULE, SCHEDULE]}, "backups.schedules[1].database", PGPASS),
        ({"schedules": [SCHEDULE], "bucket": "logs"}, "backups.bucket", PGPASS),
        ({"schedules": [SCHEDULE], "account": "nobody"}, "backups.account", PGPASS),
        ({"schedules": [SCHEDULE]}, "backupPgpass", None),
        ({"schedules": [SCHEDULE]}, "backupPgpass", "db:5432:app"),
        ({"schedules": [SCHEDULE]}, "backups.schedules[0]", "other:5432:*:backup:pw"),
        ({"schedules": [SCHEDULE]}, "backups.schedules[0].drill", "db:5432:app:backup:pw"),
        ({"schedules": [{**SCHEDULE, "overdue": "1h"}]}, "overdue", PGPASS),
    ],
)
def test_invalid_backup_settings_are_refused_naming_the_key(backups, key, pgpass):
    message = refused(backups, key, pgpass)
    assert "s3cret-pw" not in message


def test_the_password_file_alone_is_refused_and_a_drill_needs_any_database():
    refused({}, "backupPgpass")  # a secret nothing reads
    no_drill = {**SCHEDULE, "drill": None}
    assert settings({"schedules": [no_drill]}, "db:5432:app:backup:pw").backups.enabled


def test_the_stack_runs_the_service_hardened_with_its_secrets_in_files(synth):
    synthesis = synth("dev", WITH_BACKUPS)
    containers = {c.inputs["name"]: c for c in synthesis.of_type(CONTAINER)}
    service, files = containers["backup"], containers["backup-files"]
    assert service.inputs["user"] == "10002:0" and service.inputs["readOnly"] is True
    assert service.inputs["capabilities"] == {"drops": ["ALL"]}
    assert "no-new-privileges:true" in service.inputs["securityOpts"]
    assert [n["name"] for n in service.inputs["networksAdvanced"]] == ["database-net", "monitoring-net"]
    assert not service.inputs.get("ports"), "the service publishes nothing"
    assert not service.inputs.get("envs"), "no environment: a config file and secret files"
    assert is_secret(files.inputs["uploads"]), "the files hold secrets: the state keeps them encrypted"
    uploads = {u["file"]: u for u in plain(files.inputs["uploads"])}
    assert set(uploads) == {CONFIG_FILE, SECRET_KEY_FILE, SEAL_KEY_FILE, PGPASS_FILE}
    for path in (SECRET_KEY_FILE, SEAL_KEY_FILE, PGPASS_FILE):
        assert uploads[path]["permissions"] == "0440", path
    assert uploads[PGPASS_FILE]["content"].startswith("*:*:*:*:")  # the synth's stand-in, a pgpass line
    config = json.loads(uploads[CONFIG_FILE]["content"])
    assert config["endpoint"] == "http://gateway:9000" and config["bucket"] == "backups-postgresql"
    assert config["lock"] == {"mode": "GOVERNANCE", "days": 30}
    assert config["schedules"] == [{**SCHEDULE, "port": 5432}]
    assert config["access_key"] == plain(synthesis.outputs["service_account_access_keys"])["backup-service"]
    for value in synthesis.secret_values:
        assert value not in json.dumps(config), "a secret in the service's config"


def test_prometheus_scrapes_it_and_alerts_on_overdue_failed_and_drills(synth):
    synthesis = synth("dev", WITH_BACKUPS)
    jobs = {j["job_name"]: j for j in yaml.safe_load(synthesis.files["prometheus.yml"])["scrape_configs"]}
    assert jobs[BACKUP_JOB]["static_configs"] == [{"targets": ["backup:9187"]}]
    rules = {r["alert"]: r for r in yaml.safe_load(synthesis.files[RULES_FILE])["groups"][0]["rules"]}
    assert set(BACKUP_ALERTS) <= set(rules)
    assert "> 3600 and" in rules["MinIOBackupOverdue"]["expr"]  # backups.overdueAfter: 1h
    without = synth("dev")
    assert BACKUP_JOB not in without.files["prometheus.yml"]
    assert not set(BACKUP_ALERTS) & {
        r["alert"] for r in yaml.safe_load(without.files[RULES_FILE])["groups"][0]["rules"]
    }
    assert "backup" not in {c.inputs["name"] for c in without.of_type(CONTAINER)}


def test_the_backup_rules_pass_promtool(synth, tmp_path):
    from tests.conftest import require_binary

    promtool = require_binary("promtool", "apt-get install prometheus (Debian) for promtool")
    path = tmp_path / RULES_FILE
    path.write_text(synth("dev", WITH_BACKUPS).files[RULES_FILE])
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


BACKUP_LABELS = {"job": BACKUP_JOB, "instance": "backup:9187", "database": "app"}


def backup_series(metric: str, values: str) -> dict:
    labels = ",".join(f'{k}="{v}"' for k, v in BACKUP_LABELS.items())
    return {"series": f"{metric}{{{labels}}}", "values": values}


# Each alert: input series (1m apart from time 0), when to evaluate, and the summary (None: quiet).
BACKUP_CASES = {
    "MinIOBackupOverdue": [
        # Due at 60 s (Unix time), never done: at 2 h it is 1 h 59 m overdue (grace 1 h).
        ([backup_series("minio_platform_backup_due_timestamp_seconds", "60x150")], "2h",
         "A backup of app was due 1h 59m 0s ago and none has succeeded since"),
        ([backup_series("minio_platform_backup_due_timestamp_seconds", "60x150")], "50m", None),  # in grace
        # Each success moves the due time on: never more than a grace behind.
        ([backup_series("minio_platform_backup_due_timestamp_seconds", "3600+3600x150")], "2h", None),
        ([backup_series("minio_platform_backup_due_timestamp_seconds", "0x150")], "2h", None),  # no due time
    ],
    "MinIOBackupFailed": [
        ([backup_series("minio_platform_backup_last_failed", "0x3 1x3")], "5m",
         "The last scheduled backup of app failed"),
        ([backup_series("minio_platform_backup_last_failed", "1x3 0x3")], "5m", None),
    ],
    "MinIORestoreDrillFailed": [
        ([backup_series("minio_platform_drill_last_failed", "0x3 1x3")], "5m",
         "The last restore drill of app failed: its newest backup may not restore"),
        ([backup_series("minio_platform_drill_last_failed", "0x6")], "5m", None),
    ],
    # No database label: one export per cluster (BACKUP_LABELS' database rides along in the case).
    "MinIOConfigExportFailed": [
        ([backup_series("minio_platform_config_export_last_failed", "0x3 1x3")], "5m",
         "The last scheduled export of the cluster's configuration failed"),
        ([backup_series("minio_platform_config_export_last_failed", "1x3 0x3")], "5m", None),
    ],
}  # fmt: skip


@pytest.mark.parametrize("alert", sorted(BACKUP_CASES))
def test_promtool_proves_each_backup_alert_fires_and_stays_quiet(synth, alert, tmp_path):
    from tests.conftest import require_binary

    promtool = require_binary("promtool", "apt-get install prometheus (Debian) for promtool")
    rendered = synth("dev", WITH_BACKUPS).files[RULES_FILE]
    (tmp_path / RULES_FILE).write_text(rendered)
    rule = next(r for r in yaml.safe_load(rendered)["groups"][0]["rules"] if r["alert"] == alert)
    tests = [
        {
            "interval": "1m",
            "input_series": inputs,
            "alert_rule_test": [
                {
                    "eval_time": at,
                    "alertname": alert,
                    "exp_alerts": []
                    if summary is None
                    else [
                        {
                            "exp_labels": {"severity": rule["labels"]["severity"], **BACKUP_LABELS},
                            "exp_annotations": {
                                "summary": summary,
                                "runbook": rule["annotations"]["runbook"],
                            },
                        }
                    ],
                }
            ],
        }
        for inputs, at, summary in BACKUP_CASES[alert]
    ]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": [RULES_FILE], "tests": tests}))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def config(tmp_path: Path, **more) -> ServiceConfig:
    (tmp_path / "pgpass").write_text(PGPASS + "\n")
    document = {
        "bucket": "backups-postgresql",
        "endpoint": "http://gateway:9000",
        "region": "us-east-1",
        "access_key": "backup-key",
        "secret_key_file": str(tmp_path / "s3-secret-key"),
        "seal_key_file": str(tmp_path / "seal-key"),
        "pgpass_file": str(tmp_path / "pgpass"),
        "lock": {"mode": "GOVERNANCE", "days": 30},
        "work_dir": str(tmp_path),
        "scratch_dir": str(tmp_path / "scratch"),
        "schedules": [{**SCHEDULE, "port": 5432}],
        **more,
    }
    path = tmp_path / "service.json"
    path.write_text(json.dumps(document))
    return ServiceConfig.load(path)


def test_a_config_with_a_wrong_schedule_is_refused_at_start(tmp_path):
    from day2.errors import UsageError

    with pytest.raises(UsageError, match="cannot read the service's config"):
        config(tmp_path, schedules=[{**SCHEDULE, "port": 5432, "extra": 1}])
    with pytest.raises(ValueError, match="name the days"):
        config(tmp_path, schedules=[{**SCHEDULE, "port": 5432, "drill": "0 4 * * 0"}])


def test_the_pgpass_copy_is_private_as_libpq_wants(tmp_path):
    loaded = config(tmp_path)
    (tmp_path / "scratch").mkdir()
    (tmp_path / "pgpass").chmod(0o440)  # as the stack uploads it
    private = private_pgpass(loaded)
    copy = Path(private.pgpass_file)
    assert copy != tmp_path / "pgpass" and copy.read_text() == PGPASS + "\n"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def metric(registry: CollectorRegistry, name: str, database: str = "app") -> float:
    text = generate_latest(registry).decode()
    found = re.search(rf'^{name}{{database="{database}"}} (\S+)$', text, re.MULTILINE)
    assert found, f"{name} not exposed:\n{text}"
    return float(found.group(1))


class Runs:
    """What the service asked to run, and the answers a scripted tool gives (a unit test of the
    service's bookkeeping; the real tool runs in the integration and e2e tiers)."""

    def __init__(self, *answers: subprocess.CompletedProcess) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, arguments, environment):
        self.calls.append((list(arguments), dict(environment)))
        return self.answers.pop(0)


def answer(code: int, stdout: dict | None = None, stderr: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], code, json.dumps(stdout or {}), stderr)


def test_a_run_updates_the_metrics_and_logs_one_json_line(tmp_path, capsys):
    registry = CollectorRegistry()
    runs = Runs(
        answer(0, {"key": "postgresql/app/k.dump", "size": 1234, "sha256": "ab" * 32}),
        answer(5, stderr="backup: pg_dump of app failed: connection refused\n"),
        answer(0, {"backup": "postgresql/app/k.dump", "seconds_to_restore": 2.5}),
        answer(1, stderr="drill: the restore of app is missing tables or rows\n"),
    )
    service = BackupService(config(tmp_path), registry, run=runs)
    schedule = service.config.schedules[0]
    assert isinstance(schedule, Schedule)
    assert service.backup(schedule) is True
    arguments, environment = runs.calls[0]
    assert arguments[:1] == ["backup"] and "--seal-key-file" in arguments and "--lock-days" in arguments
    assert environment["PGHOST"] == "db" and environment["PGUSER"] == "backup"
    assert (
        environment["MINIO_SECRET_KEY_FILE"].endswith("s3-secret-key")
        and "MINIO_SECRET_KEY" not in environment
    )
    assert metric(registry, "minio_platform_backup_last_size_bytes") == 1234
    success = metric(registry, "minio_platform_backup_last_success_timestamp_seconds")
    assert metric(registry, "minio_platform_backup_due_timestamp_seconds") > success
    assert metric(registry, "minio_platform_backup_last_failed") == 0

    assert service.backup(schedule) is False
    assert metric(registry, "minio_platform_backup_failures_total") == 1
    assert metric(registry, "minio_platform_backup_last_failed") == 1
    assert metric(registry, "minio_platform_backup_last_success_timestamp_seconds") == success

    assert service.drill(schedule) is True
    assert metric(registry, "minio_platform_drill_last_restore_seconds") == 2.5
    assert service.drill(schedule) is False
    assert metric(registry, "minio_platform_drill_failures_total") == 1
    assert metric(registry, "minio_platform_drill_last_failed") == 1

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e["outcome"]) for e in lines] == [
        ("backup", "success"), ("backup", "failure"), ("drill", "success"), ("drill", "failure")
    ]  # fmt: skip
    assert lines[1]["error"] == "backup: pg_dump of app failed: connection refused"
    assert lines[0]["key"] == "postgresql/app/k.dump" and lines[0]["size"] == 1234


OUTSIDE = {
    # As the e2e tier's stack: nothing inside MinIO is the program's; the bucket and the identity
    # are made outside it (with mc), the seal key is a secret.
    "buckets": [],
    "serviceAccounts": [],
    "identity": {"groups": [{"name": "storage-admins", "policy": "consoleAdmin"}]},
    "observability": {"mode": "none"},
    "backups": {
        "schedules": [SCHEDULE],
        "bucket": "e2e-backups",
        "accessKey": "e2e-backup",
        "objectLock": {"mode": "GOVERNANCE", "days": 1},
    },
    "backupSecretKey": {"secure": "x"},
    "backupSealKey": {"secure": "x"},
    "backupPgpass": {"secure": "x"},
}


def test_an_identity_and_bucket_made_outside_the_stack_need_no_minio_provider(synth):
    synthesis = synth("dev", OUTSIDE)
    assert not synthesis.of_type("pulumi:providers:minio")
    files = next(c for c in synthesis.of_type(CONTAINER) if c.inputs["name"] == "backup-files")
    uploads = {u["file"]: u["content"] for u in plain(files.inputs["uploads"])}
    config = json.loads(uploads[CONFIG_FILE])
    assert (config["bucket"], config["access_key"]) == ("e2e-backups", "e2e-backup")
    assert config["lock"] == {"mode": "GOVERNANCE", "days": 1}
    assert uploads[SEAL_KEY_FILE] == "offline-synth-placeholder-for-backupSealKey"
    assert uploads[SECRET_KEY_FILE] == "offline-synth-placeholder-for-backupSecretKey"
    assert is_secret(synthesis.outputs["backup_seal_key"])


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"backupSecretKey": None}, "backupSecretKey"),
        ({"backupSealKey": None}, "backupSealKey"),
        ({"backups": {"bucket": None}}, "backups.bucket"),
        ({"backups": {"accessKey": None}}, "backups.bucket"),
    ],
)
def test_outside_the_stack_every_piece_is_named_when_missing(change, key):
    values = {k: v for k, v in OUTSIDE.items() if not (isinstance(v, dict) and set(v) == {"secure"})}
    values["backups"] = {**OUTSIDE["backups"], **change.get("backups", {})}
    values["backups"] = {k: v for k, v in values["backups"].items() if v is not None}
    secrets_ = {k: "s" * 40 for k in ("backupSecretKey", "backupSealKey") if change.get(k, "") is not None}
    values.update(secrets_, backupPgpass=PGPASS)
    with pytest.raises(SettingsError) as raised:
        settings_from_config(values, frozenset({*secrets_, "backupPgpass"}))
    assert key in str(raised.value), raised.value


def test_a_configured_bucket_keeps_its_own_lock():
    refused({"schedules": [SCHEDULE], "objectLock": {"days": 3}}, "backups.objectLock")


def test_the_settings_and_the_tool_agree_on_the_seal_keys_length():
    from components.settings.secrets import SEAL_KEY_MIN
    from day2.backups import SEAL_KEY_MINIMUM

    assert SEAL_KEY_MIN == SEAL_KEY_MINIMUM


# --- the configuration export (#32 item 4) ----------------------------------------------------------

EXPORT_ACCOUNT = {"name": "config-export", "policy": "config-export", "buckets": ["backups-postgresql"]}
WITH_EXPORT = {
    **WITH_BACKUPS,
    "backups": {"schedules": [SCHEDULE], "configExport": {"schedule": "30 3 * * *"}},
    "serviceAccounts": [
        {"name": "backup-service", "policy": "backup-service", "buckets": ["backups-postgresql"]},
        EXPORT_ACCOUNT,
    ],
}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        # Its own account is not there (the defaults have backup-service alone).
        ({"backups": {"schedules": [SCHEDULE], "configExport": {"schedule": "30 3 * * *"}}},
         "backups.configExport.account"),
        # An account with another template.
        ({"backups": {"schedules": [SCHEDULE], "configExport": {"schedule": "30 3 * * *",
                                                                "account": "backup-service"}}},
         "backups.configExport.account"),
        ({"backups": {"schedules": [SCHEDULE], "configExport": {"schedule": "0 3 * * 0"}},
          "serviceAccounts": WITH_EXPORT["serviceAccounts"]}, "backups.configExport.schedule"),
        # It runs in the backup service: not without schedules.
        ({"backups": {"configExport": {"schedule": "30 3 * * *"}},
          "serviceAccounts": WITH_EXPORT["serviceAccounts"]}, "backups.configExport"),
    ],
)  # fmt: skip
def test_an_invalid_config_export_is_refused_naming_the_key(values, key):
    pgpass = PGPASS if values["backups"].get("schedules") else None
    refused(values["backups"], key, pgpass, **{k: v for k, v in values.items() if k != "backups"})


def service_files(synthesis) -> dict[str, dict]:
    files = next(c for c in synthesis.of_type(CONTAINER) if c.inputs["name"] == "backup-files")
    return {u["file"]: u for u in plain(files.inputs["uploads"])}


def test_the_export_runs_in_the_service_as_its_own_account_with_its_key_in_a_file(synth):
    synthesis = synth("dev", WITH_EXPORT)
    uploads = service_files(synthesis)
    assert uploads[CONFIG_EXPORT_KEY_FILE]["permissions"] == "0440"
    config = json.loads(uploads[CONFIG_FILE]["content"])
    keys = plain(synthesis.outputs["service_account_access_keys"])
    secrets_ = plain(synthesis.outputs["service_account_secret_keys"])
    assert config["config_export"] == {
        "schedule": "30 3 * * *",
        "access_key": keys["config-export"],
        "secret_key_file": CONFIG_EXPORT_KEY_FILE,
    }
    assert config["access_key"] == keys["backup-service"] != keys["config-export"]
    assert uploads[CONFIG_EXPORT_KEY_FILE]["content"] == secrets_["config-export"]
    for value in synthesis.secret_values:
        assert value not in json.dumps(config), "a secret in the service's config"
    without = service_files(synth("dev", WITH_BACKUPS))
    assert CONFIG_EXPORT_KEY_FILE not in without
    assert json.loads(without[CONFIG_FILE]["content"])["config_export"] is None


def test_an_export_run_signs_in_as_the_export_account_and_updates_its_metrics(tmp_path, capsys):
    registry = CollectorRegistry()
    export = {"schedule": "30 3 * * *", "access_key": "export-key", "secret_key_file": str(tmp_path / "ek")}
    runs = Runs(
        answer(0, {"key": "config/cluster-config-x.json", "counts": {"policies": 7}}),
        answer(3, stderr="export-config: the cluster refused the credentials of export-key (AccessDenied)\n"),
    )
    service = BackupService(config(tmp_path, config_export=export), registry, run=runs)
    assert service.export_config() is True
    arguments, environment = runs.calls[0]
    assert arguments[0] == "export-config" and "--lock-days" in arguments
    assert "--seal-key-file" not in arguments and "--database" not in arguments
    assert environment["MINIO_ACCESS_KEY"] == "export-key"
    assert environment["MINIO_SECRET_KEY_FILE"] == str(tmp_path / "ek")
    assert not {"PGHOST", "PGPASSFILE"} & set(environment), "the export has no business with a database"
    text = generate_latest(registry).decode()
    assert re.search(r"^minio_platform_config_export_last_success_timestamp_seconds [1-9]", text, re.M)
    assert service.export_config() is False
    text = generate_latest(registry).decode()
    assert re.search(r"^minio_platform_config_export_last_failed 1\.0$", text, re.M)
    assert re.search(r"^minio_platform_config_export_failures_total 1\.0$", text, re.M)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e["outcome"]) for e in lines] == [
        ("config-export", "success"),
        ("config-export", "failure"),
    ]
    assert "AccessDenied" in lines[1]["error"]


def test_a_run_past_its_time_is_a_failure_with_the_reason_for_every_job(tmp_path, capsys):
    """A backup, a drill or an export the tool has not finished within RUN_TIMEOUT_SECONDS counts as
    failed, and its log line says it was stopped (the runner's TimeoutExpired)."""

    def stuck(arguments, _environment):
        raise subprocess.TimeoutExpired(["python", "-m", "day2", *arguments], RUN_TIMEOUT_SECONDS)

    registry = CollectorRegistry()
    export = {"schedule": "30 3 * * *", "access_key": "export-key", "secret_key_file": str(tmp_path / "ek")}
    service = BackupService(config(tmp_path, config_export=export), registry, run=stuck)
    schedule = service.config.schedules[0]
    assert (service.backup(schedule), service.drill(schedule), service.export_config()) == (
        False,
        False,
        False,
    )
    assert metric(registry, "minio_platform_backup_failures_total") == 1
    assert metric(registry, "minio_platform_drill_failures_total") == 1
    assert re.search(
        r"^minio_platform_config_export_failures_total 1\.0$", generate_latest(registry).decode(), re.M
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in lines] == ["backup", "drill", "config-export"]
    assert {e["error"] for e in lines} == {f"stopped after {RUN_TIMEOUT_SECONDS} s"}


def test_behind_a_self_signed_gateway_the_service_trusts_that_certificate_alone(synth, tmp_path):
    """gateway.tls self-signed: the service gets the certificate the gateway serves, and it and
    each of its runs trust that file alone (boto3 through AWS_CA_BUNDLE, the MinIO SDK of the
    export through SSL_CERT_FILE); elsewhere the system's authorities, and no such file."""
    synthesis = synth("dev", {**WITH_EXPORT, "gateway": {"tls": "self-signed", "s3Host": "s3.localhost"}})
    uploads = service_files(synthesis)
    served = [
        u["content"]
        for c in synthesis.of_type(CONTAINER)
        for u in plain(c.inputs.get("uploads") or [])
        if u["file"].endswith("/tls/tls.crt")
    ]
    assert served and uploads[GATEWAY_CERTIFICATE_FILE]["content"] == served[0]
    assert uploads[GATEWAY_CERTIFICATE_FILE]["permissions"] == "0644", "a certificate is public"
    rendered = json.loads(uploads[CONFIG_FILE]["content"])
    assert rendered["ca_file"] == GATEWAY_CERTIFICATE_FILE
    assert rendered["endpoint"].startswith("https://")

    runs = Runs(answer(0, {"key": "postgresql/app/k.dump", "size": 1, "sha256": "ab" * 32}), answer(1))
    export = {"schedule": "30 3 * * *", "access_key": "export-key", "secret_key_file": str(tmp_path / "ek")}
    trusting = config(tmp_path, ca_file="/etc/backup/gateway.crt", config_export=export)
    service = BackupService(trusting, CollectorRegistry(), run=runs)
    service.backup(service.config.schedules[0])
    service.export_config()
    for _arguments, environment in runs.calls:
        assert environment["AWS_CA_BUNDLE"] == environment["SSL_CERT_FILE"] == "/etc/backup/gateway.crt"

    plain_http = service_files(synth("dev", WITH_EXPORT))
    assert GATEWAY_CERTIFICATE_FILE not in plain_http
    assert "ca_file" not in json.loads(plain_http[CONFIG_FILE]["content"])
    runs = Runs(answer(0, {"key": "postgresql/app/k.dump", "size": 1, "sha256": "ab" * 32}))
    service = BackupService(config(tmp_path), CollectorRegistry(), run=runs)
    service.backup(service.config.schedules[0])
    assert not {"AWS_CA_BUNDLE", "SSL_CERT_FILE"} & set(runs.calls[0][1])
