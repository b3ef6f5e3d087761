from pathlib import Path

import pytest

from notifier.channels.console import ConsoleConfig
from notifier.channels.slack import SlackConfig
from notifier.channels.teams import TeamsConfig
from notifier.config.load import KNOWN_VARIABLES, load_config
from notifier.config.settings import DEFAULT_PUBSUB_TOPIC, ENV_SETTINGS, Settings
from notifier.config.source import ConfigError
from notifier.units import parse_duration, parse_size

EXAMPLE = """
channels:
  prod-slack: {type: slack, token: "${SLACK_BOT_TOKEN}", channel: "#prod"}
  team-hook:  {type: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
  teams:      {type: teams, webhook_url: "${TEAMS_WEBHOOK_URL}"}
  log:        {type: console}
routes:
  - name: prod-failures
    match: {types: ["sh.keptn.event.evaluation.finished"], projects: [sockshop], stages: [production], results: [fail, warning]}
    channels: [prod-slack, teams]
  - name: everything
    match: {types: ["sh.keptn.>"]}
    channels: [log]
"""
ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1-secret-token",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secretpath",
    "TEAMS_WEBHOOK_URL": "https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET123",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notifier.yaml"
    path.write_text(text)
    return path


def test_environment_only_defaults_to_the_console() -> None:
    config = load_config(env={})
    assert list(config.channels) == ["console"]
    assert isinstance(config.channels["console"], ConsoleConfig)
    assert config.settings.pubsub_topic == DEFAULT_PUBSUB_TOPIC
    assert config.settings.port == 8080
    assert [route.channels for route in config.routes] == [["console"]]


def test_environment_channels_use_the_distributor_names() -> None:
    env = {
        **ENV,
        "SLACK_CHANNEL": "#keptn",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "PORT": "9000",
        "PROJECT_FILTER": "sockshop, podtato",
        "LOG_LEVEL": "debug",
        "PUBSUB_TOPIC": "sh.keptn.>",
    }
    config = load_config(env=env)
    assert set(config.channels) == {"slack-webhook", "slack-bot", "teams"}
    assert isinstance(config.channels["teams"], TeamsConfig)
    bot = config.channels["slack-bot"]
    assert isinstance(bot, SlackConfig) and bot.channel == "#keptn"
    assert config.settings.port == 9000
    assert config.settings.project_filter == ["sockshop", "podtato"]
    assert config.settings.log_level == "DEBUG"
    assert "xoxb-1-secret-token" in config.secrets() and "SIGSECRET123" in config.secrets()


def test_bot_token_without_channel_is_explained() -> None:
    with pytest.raises(ConfigError, match="SLACK_CHANNEL is not"):
        load_config(env={"SLACK_BOT_TOKEN": "xoxb-1"})


def test_yaml_example_from_the_issue_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), env=ENV)
    assert list(config.channels) == ["prod-slack", "team-hook", "teams", "log"]
    assert [route.name for route in config.routes] == ["prod-failures", "everything"]
    assert config.routes[0].match.results == ["fail", "warning"]
    hook = config.channels["team-hook"]
    assert isinstance(hook, SlackConfig) and hook.webhook_url == ENV["SLACK_WEBHOOK_URL"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "channels: {a: {type: console}}\nroutes: [{name: r, channels: [b]}]\n",
            r"routes\[0\] \(r\).channels: unknown channel 'b'; defined channels: a",
        ),
        (
            "channels: {a: {type: console, colour: red}}\nroutes: [{name: r, channels: [a]}]\n",
            r"channels.a.colour: unknown key",
        ),
        ("channels: {a: {type: pager}}\nroutes: [{name: r, channels: [a]}]\n", "unknown channel type"),
        (
            "channels: {a: {type: slack, webhook_url: 'http://hooks.example.com/x'}}\nroutes: [{name: r, channels: [a]}]\n",
            "channels.a.*must use https",
        ),
        (
            "channels: {a: {type: console}}\nroutes: [{name: r, channels: [a], match: {typs: [x]}}]\n",
            r"routes\[0\].match.typs: unknown key",
        ),
        (
            "channels: {a: {type: slack, token: '${NOPE}', channel: '#x'}}\nroutes: [{name: r, channels: [a]}]\n",
            r"channels.a.token: environment variable NOPE is not set",
        ),
        ("channels: [a\nroutes: x\n", r"line \d+, column \d+: invalid YAML"),
        ("channels: {a: {type: console}}\nroutes: []\n", "'routes' is empty"),
        (
            "channels: {a: {type: console}}\nroutes: [{name: r, channels: [a]}, {name: r, channels: [a]}]\n",
            "used twice",
        ),
        (
            "channels: {a: {type: console}}\nroutes: [{name: r, channels: [a]}]\nsettings: {dedup_window: soon}\n",
            "settings.dedup_window: .*not a duration",
        ),
    ],
)
def test_config_errors_name_the_file_the_place_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, env={})
    assert str(path) in str(caught.value) or "settings" in str(caught.value)


def test_env_default_syntax_and_settings_precedence(tmp_path: Path) -> None:
    text = (
        "channels: {a: {type: slack, webhook_url: '${HOOK:-http://127.0.0.1:1/hook}'}}\n"
        "routes: [{name: r, channels: [a]}]\nsettings: {port: 7000, retry_max_age: 2h}\n"
    )
    config = load_config(write(tmp_path, text), env={"PORT": "7100"}, overrides={"port": 7200})
    assert config.settings.port == 7200
    assert config.settings.retry_max_age == 7200
    config = load_config(write(tmp_path, text), env={"PORT": "7100"})
    assert config.settings.port == 7100


def test_bad_environment_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment variable PORT"):
        load_config(env={"PORT": "eighty"})
    with pytest.raises(ConfigError, match="environment variable LOG_LEVEL.*not a log level"):
        load_config(env={"LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match="environment variable TEMPLATES_DIR.*not a directory"):
        load_config(env={"TEMPLATES_DIR": "/nonexistent/templates"})
    with pytest.raises(ConfigError, match="environment variable PUBSUB_TOPIC"):
        load_config(env={"PUBSUB_TOPIC": "sh..keptn"})


def test_missing_config_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file .*NOTIFIER_CONFIG"):
        load_config(tmp_path / "missing.yaml", env={})


def test_durations_and_sizes() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(3) == 3.0
    assert parse_size("1MiB") == 1024 * 1024
    assert (parse_size("2GiB"), parse_size("1 gb"), parse_size("512KB")) == (2 * 1024**3, 1000**3, 512_000)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("tomorrow")


def test_a_channel_named_like_its_type_keeps_its_name_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "channels: {slack: {type: slack, token: bad}}\nroutes: [{name: r, channels: [slack]}]\n")
    with pytest.raises(ConfigError, match=r"channels\.slack\.token: must be a Slack token"):
        load_config(path, env={})


def test_environment_channels_come_in_registry_order() -> None:
    config = load_config(
        env={"TEAMS_WEBHOOK_URL": ENV["TEAMS_WEBHOOK_URL"], "SLACK_WEBHOOK_URL": ENV["SLACK_WEBHOOK_URL"]}
    )
    assert list(config.channels) == ["slack-webhook", "teams"]
    assert config.routes[0].channels == ["slack-webhook", "teams"]


def test_warnings_come_from_the_channel_types(tmp_path: Path) -> None:
    text = (
        "channels:\n"
        "  fast: {type: slack, webhook_url: 'https://hooks.slack.com/services/T0/B0/x', rate_limit: off}\n"
        "  old: {type: teams, webhook_url: 'https://example.webhook.office.com/webhookb2/x'}\n"
        "  log: {type: console, rate_limit: off}\n"
        "routes: [{name: r, channels: [fast, old, log]}]\n"
    )
    warnings = load_config(write(tmp_path, text), env={}).warnings
    assert [warning.split(":")[0] for warning in warnings] == ["channel fast", "channel old"]
    assert "Slack may disable an app" in warnings[0] and "Office 365 connector" in warnings[1]


REPO = Path(__file__).resolve().parents[2]


def test_every_setting_variable_sets_its_setting() -> None:
    """docs/configuration.md names each variable beside its setting (tests/config/test_reference.py): true here."""
    for variable, setting in ENV_SETTINGS.items():
        settings = load_config(env={variable: NOT_DEFAULT[setting]}).settings
        assert getattr(settings, setting) != getattr(Settings(), setting), variable


# A valid value other than the default for every setting that has a variable.
NOT_DEFAULT = {
    "host": "127.0.0.2",
    "port": "9",
    "admin_host": "127.0.0.3",
    "admin_port": "9",
    "state_dir": "/tmp/state",
    "store": "nats",
    "nats_url": "nats://127.0.0.1:4222",
    "nats_prefix": "other-notifier",
    "nats_max_bytes": "256MiB",
    "nats_jetstream": "false",
    "nats_stream": "other-stream",
    "nats_consumer": "other-consumer",
    "pubsub_group": "other-group",
    "pubsub_topic": "x.y",
    "project_filter": "p",
    "stage_filter": "s",
    "service_filter": "v",
    "bridge_url": "https://keptn.example.com/bridge",
    "templates_dir": str(REPO / "notifier" / "templates"),
    "log_level": "debug",
    "max_body_bytes": "2KiB",
    "ingest_token": "token",
    "admin_token": "admin-token",
    "dedup_window": "5m",
    "retry_max_age": "5m",
    "shutdown_grace": "5m",
    "keptn_register": "true",
    "keptn_api_endpoint": "https://keptn.example.com/api",
    "keptn_api_token": "keptn-token",
    "silence_max_duration": "1d",
    "k8s_deployment_name": "notifier-b",
    "k8s_namespace": "keptn-b",
    "k8s_pod_name": "notifier-b-1",
    "k8s_node_name": "node-b",
    "thread_max_age": "2d",
}


def test_nats_intake_is_on_only_when_nats_url_is_given() -> None:
    assert not load_config(env={}).settings.nats_intake
    assert not load_config(env={"NATS_URL": " "}).settings.nats_intake
    settings = load_config(env={"NATS_URL": "nats://keptn-nats"}).settings  # the default, but given
    assert settings.nats_intake and settings.nats_jetstream is None
    assert (settings.nats_stream, settings.nats_consumer, settings.pubsub_group) == ("keptn",) + ("keptn-notifier",) * 2
    assert load_config(env={"NATS_JETSTREAM": "TRUE"}).settings.nats_jetstream is True


@pytest.mark.parametrize("variable", ["NATS_STREAM", "NATS_CONSUMER", "PUBSUB_GROUP"])
@pytest.mark.parametrize("value", ["sh.keptn", "shipyard-controller:all-events", "two words", "a>"])
def test_nats_names_with_dots_wildcards_spaces_or_colons_are_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"environment variable {variable}: .*letters, digits"):
        load_config(env={variable: value})


def test_credentials_in_the_nats_url_are_secrets(tmp_path: Path) -> None:
    """`/ready` and the logs name the NATS URL; the redactor masks what the config calls secret."""
    config = load_config(env={"NATS_URL": "nats://notifier:s3cr3t-pw@keptn-nats:4222"})
    assert {"s3cr3t-pw", "notifier"} <= set(config.secrets())
    token_only = load_config(env={"NATS_URL": "nats://T0KEN-abc@keptn-nats"})
    assert "T0KEN-abc" in token_only.secrets()
    assert not [s for s in load_config(env={"NATS_URL": "nats://keptn-nats"}).secrets() if "keptn" in s]


# -- variables that look like the service's but are not -------------------------------------------------------

UNKNOWN = "is ignored: keptn-notifier reads no such variable"


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("SLACK_WEBHOOK", "SLACK_WEBHOOK_URL"),
        ("TEAMS_WEBHOOK", "TEAMS_WEBHOOK_URL"),
        ("NOTIFIER_CONFG", "NOTIFIER_CONFIG"),
        ("KEPTN_BRIDGE", "KEPTN_BRIDGE_URL"),
        ("NOTIFIER_ADMN_PORT", "NOTIFIER_ADMIN_PORT"),
        ("SLACK_TOKEN", "SLACK_BOT_TOKEN"),
    ],
)
def test_a_misspelt_variable_is_named_with_the_one_it_was_meant_to_be(variable: str, meant: str) -> None:
    config = load_config(env={variable: "https://hooks.slack.com/services/T0/B0/secretpath"})

    # Still the console: the warning is what tells the user why.
    assert list(config.channels) == ["console"]
    assert config.warnings == (f"environment variable {variable} {UNKNOWN}; did you mean '{meant}'?",)
    assert "secretpath" not in config.warnings[0]


def test_an_unknown_variable_without_a_near_name_lists_its_prefixs_variables() -> None:
    [warning] = load_config(env={"TEAMS_CHANNEL_ID": "19:abc"}).warnings
    listed = "the TEAMS_* variables it reads are TEAMS_WEBHOOK_URL"
    assert warning == f"environment variable TEAMS_CHANNEL_ID {UNKNOWN}; {listed}"


def test_known_variables_other_prefixes_and_kubernetes_service_links_are_not_warned_about() -> None:
    env = {name: "" for name in KNOWN_VARIABLES}  # set but empty: known all the same
    env |= {"HOME": "/root", "PUBSUB_URL": "nats://keptn-nats", "SLACKWARE": "yes", "K8S_DEPLOYMENT_VERSION": "1.4.5"}
    # What the kubelet sets for the Services keptn-nats and keptn-notifier in the pod's namespace.
    env |= {
        "KEPTN_NATS_SERVICE_HOST": "10.0.0.7",
        "KEPTN_NATS_SERVICE_PORT": "4222",
        "KEPTN_NATS_SERVICE_PORT_CLIENT": "4222",
        "KEPTN_NATS_PORT": "tcp://10.0.0.7:4222",
        "KEPTN_NATS_PORT_4222_TCP": "tcp://10.0.0.7:4222",
        "KEPTN_NATS_PORT_4222_TCP_PROTO": "tcp",
        "KEPTN_NATS_PORT_4222_TCP_PORT": "4222",
        "KEPTN_NATS_PORT_4222_TCP_ADDR": "10.0.0.7",
        "KEPTN_NOTIFIER_SERVICE_HOST": "10.0.0.8",
        "KEPTN_NOTIFIER_PORT_9090_TCP": "tcp://10.0.0.8:9090",
    }
    assert load_config(env=env).warnings == ()


def test_a_service_link_counts_only_beside_its_service_host() -> None:
    # No NOTIFIER_ADMN_SERVICE_HOST: this _PORT is a misspelling, not a Service.
    [warning] = load_config(env={"NOTIFIER_ADMN_PORT": "9090", "KEPTN_NATS_SERVICE_HOST": "10.0.0.7"}).warnings
    assert "NOTIFIER_ADMN_PORT" in warning and "did you mean 'NOTIFIER_ADMIN_PORT'?" in warning


def test_variables_the_config_file_names_are_used_not_unknown(tmp_path: Path) -> None:
    text = (
        "channels:\n"
        "  oncall: {type: slack, webhook_url: '${SLACK_ONCALL_WEBHOOK_URL}'}\n"
        "  log: {type: console, stream: '${NOTIFIER_LOG_STREAM:-stdout}'}\n"
        "routes: [{name: r, channels: [oncall, log]}]\n"
    )
    env = {"SLACK_ONCALL_WEBHOOK_URL": ENV["SLACK_WEBHOOK_URL"], "NOTIFIER_LOG_STREAM": "stderr", "KEPTN_BRIDGE": "x"}

    warnings = load_config(write(tmp_path, text), env=env).warnings

    assert warnings == (f"environment variable KEPTN_BRIDGE {UNKNOWN}; did you mean 'KEPTN_BRIDGE_URL'?",)


def test_the_known_variables_include_the_config_file_and_the_channel_types_variables() -> None:
    assert {"NOTIFIER_CONFIG", "SLACK_WEBHOOK_URL", "TEAMS_WEBHOOK_URL", "KEPTN_API_TOKEN"} <= KNOWN_VARIABLES


@pytest.mark.parametrize("url", ["https://admin:s3cr3t@keptn.example.com/bridge", "https://admin@keptn.example.com"])
def test_a_bridge_url_with_a_user_or_password_is_refused(url: str) -> None:
    """Every message links to the Bridge: a credential in its URL would be posted to every channel."""
    with pytest.raises(ConfigError, match="environment variable KEPTN_BRIDGE_URL: must not hold a user") as caught:
        load_config(env={"KEPTN_BRIDGE_URL": url})
    assert "s3cr3t" not in str(caught.value)
    assert load_config(env={"KEPTN_BRIDGE_URL": "https://keptn.example.com/bridge/"}).settings.bridge_url == (
        "https://keptn.example.com/bridge"
    )
