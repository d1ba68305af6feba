"""Settings read from the environment: what is parsed, what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.settings import Settings


def _settings(**env: str) -> Settings:
    return Settings.from_env({"STL_DATA_DIR": "/srv/stl", **env})


def test_extra_spark_settings_come_last_and_jvm_options_are_added_to_the_platforms():
    settings = _settings(STL_SPARK_EXTRA_CONF=json.dumps({
        "spark.sql.adaptive.enabled": False, "spark.sql.shuffle.partitions": 1,
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}))
    conf = settings.spark_conf()
    assert conf["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark.sql.shuffle.partitions"] == "1"  # overrides STL_SPARK_SHUFFLE_PARTITIONS' 4
    # The time zone and the metastore's home stay: the models depend on them.
    assert conf["spark.driver.extraJavaOptions"] == (
        f"-Duser.timezone=UTC -Dderby.system.home={Path('/srv/stl/spark')} -XX:TieredStopAtLevel=1")
    assert _settings().spark_conf()["spark.sql.shuffle.partitions"] == "4"
    assert "spark.sql.adaptive.enabled" not in _settings().spark_conf()


@pytest.mark.parametrize("raw", ["spark.sql.adaptive.enabled=false", '["a", "b"]'])
def test_extra_spark_settings_that_are_not_a_json_object_are_refused(raw):
    with pytest.raises(ValueError, match="STL_SPARK_EXTRA_CONF"):
        _settings(STL_SPARK_EXTRA_CONF=raw)
