"""The CLI's ``--set name=JSON`` with typed columns: arrays and objects make JSON properties,
and a value that cannot round-trip is a usage error before anything is sent."""

from __future__ import annotations

import json

from test_cli import PASSWORD, Cli, emulator_process, run  # noqa: F401 - the fixtures


def test_update_sets_json_arrays_and_objects_end_to_end(run: Cli) -> None:  # noqa: F811
    email = "tags@example.com"
    registered = run("users", "register", email, "--password-stdin", stdin=PASSWORD + "\n")
    assert registered.code == 0, registered.err
    object_id = registered.out.split("objectId ")[1].split(")")[0]
    assert run("users", "login", email, "--password-stdin", stdin=PASSWORD + "\n").code == 0

    updated = run("users", "update", "--set", 'tags=["a","b"]',
                  "--set", 'prefs={"theme": "dark", "sizes": [1, 2.5]}', "--json")
    assert updated.code == 0, updated.err
    shown = json.loads(updated.out)
    assert shown["tags"] == ["a", "b"] and shown["prefs"] == {"theme": "dark", "sizes": [1, 2.5]}
    stored = run.emulator.stored_user(object_id)
    assert stored["tags"] == ["a", "b"] and stored["prefs"]["sizes"] == [1, 2.5]
    whoami = run("users", "whoami")
    assert 'tags           ["a", "b"]' in whoami.out

    wrong = run("users", "update", "--set", "tags=7")  # tags is a JSON column: 7 is JSON too
    assert wrong.code == 0, wrong.err
    score = run("users", "update", "--set", "score=1")
    assert score.code == 0
    refused = run("users", "update", "--set", 'score="many"')
    assert refused.code != 0 and "invalid data type for properties - score" in refused.err


def test_values_that_cannot_round_trip_are_usage_errors(run: Cli) -> None:  # noqa: F811
    for setting, words in (("big=9007199254740993", "'big'"),
                           ("objectId=X", "read-only"),
                           ("created=5", "read-only")):
        result = run("users", "update", "--set", setting)
        assert result.code == 2, (setting, result.err)
        assert words in result.err, result.err
