"""Every option of the paper app's own groups (``conf/feed``, ``conf/alerts``) composes with
``conf/paper.yaml`` and validates."""

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from runner import PROJECT_ROOT
from runner.paper.alerts import alert_spec
from runner.paper.feeds import feed_spec

CONF = PROJECT_ROOT / "conf"
OPTIONS = [(g, f.stem) for g in ("feed", "alerts") for f in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_paper_group_option_composes_and_validates(group: str, option: str, monkeypatch) -> None:
    for name in ("PERPLAB_TELEGRAM_TOKEN", "PERPLAB_TELEGRAM_CHAT_ID"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("PERPLAB_ALERT_WEBHOOK", "http://127.0.0.1:9/hook")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("paper", overrides=[f"{group}={option}"])
    raw = OmegaConf.to_container(cfg[group], resolve=True)
    spec = feed_spec(raw) if group == "feed" else alert_spec(raw)
    assert spec.kind == option
    assert len(OPTIONS) == 6
