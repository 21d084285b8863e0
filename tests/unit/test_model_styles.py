"""The store's style LoRAs in the model manager: several installed, each on or off, one
default that customer rounds are drawn with; optional public styles in the manifest; the
`diamra models style` commands."""

import json
from pathlib import Path

import pytest

from appliance import cli
from appliance.ops.models import ModelError, ModelStore, load_manifest, sha256_of

BASE = '''[models.base]
kind = "base"
repo = "tests/base"
licence = "test"
folder = "base"
files = ["model_index.json"]
'''

PUBLIC_STYLE = '''
[models.etched]
kind = "style_lora"
repo = "someone/etched-style"
licence = "CreativeML Open RAIL++-M"
commercial_use = true
optional = true
folder = "style-etched"
files = ["etched.safetensors"]
trigger = "etched metal"
weight = 0.8
'''


def write_manifest(folder: Path, extra: str = "") -> Path:
    path = folder / "manifest.toml"
    path.write_text(BASE + extra)
    return path


@pytest.fixture
def models(tmp_path) -> ModelStore:
    store = ModelStore(tmp_path / "data" / "models", write_manifest(tmp_path))
    base = store.dir / "base" / "model_index.json"
    base.parent.mkdir(parents=True)
    base.write_text("{}")
    return store


def lora_file(folder: Path, name: str, body: bytes = b"lora weights") -> Path:
    """A file the model manager treats as a LoRA (it checks the suffix, not the tensors)."""
    path = folder / f"{name}.safetensors"
    path.write_bytes(body + name.encode())
    return path


def install(models: ModelStore, name: str, **changes):
    return models.import_style(name, lora_file(models.dir.parent, name), f"{name} look", 1.0, **changes)


# ------------------------------------------------------------------ on, off and the default

def test_the_first_style_switched_on_becomes_the_default_and_later_ones_do_not(models):
    first = install(models, "ours")
    assert (first.enabled, first.default, first.source) == (True, True, "imported")
    second = install(models, "bright")
    assert second.enabled and not second.default
    assert models.active_style().name == "ours"
    assert models.lock()["default_style"] == "ours"


def test_a_trained_style_arrives_off_and_is_not_drawn_with(models):
    trained = install(models, "trained-1", enabled=False, source="trained")
    assert (trained.enabled, trained.default, trained.source) == (False, False, "trained")
    assert models.active_style() is None
    models.set_style("trained-1", enabled=True)
    assert models.active_style() is None                       # on is not yet the default
    models.set_default_style("trained-1")
    assert models.active_style().name == "trained-1"


def test_switching_off_the_default_style_leaves_rounds_with_the_base_model(models):
    install(models, "ours")
    install(models, "bright")
    models.set_style("ours", enabled=False)
    assert models.active_style() is None and models.lock()["default_style"] is None
    assert {s.name: (s.enabled, s.default) for s in models.styles()} == {"bright": (True, False),
                                                                        "ours": (False, False)}


def test_only_a_style_that_is_on_can_be_the_default(models):
    install(models, "ours")
    install(models, "later", enabled=False)
    with pytest.raises(ModelError, match="'later' is off"):
        models.set_default_style("later")
    assert models.active_style().name == "ours"
    models.set_default_style(None)
    assert models.active_style() is None


def test_the_default_switches_from_one_style_to_another(models):
    install(models, "ours")
    install(models, "bright")
    models.set_default_style("bright")
    assert [s.name for s in models.styles() if s.default] == ["bright"]
    assert models.active_style().trigger == "bright look"


def test_a_style_s_weight_changes_within_0_to_2(models):
    install(models, "ours")
    assert models.set_style("ours", weight=0.6).weight == 0.6
    for bad in (0, -1, 2.5):
        with pytest.raises(ModelError, match="between 0 and 2"):
            models.set_style("ours", weight=bad)
    assert models.active_style().weight == 0.6


def test_removing_a_style_deletes_its_file_and_the_default(models):
    style = install(models, "ours")
    path = models.dir / style.file
    assert path.exists()
    models.remove_style("ours")
    assert not path.exists() and models.styles() == [] and models.active_style() is None
    assert models.lock()["default_style"] is None


def test_an_unknown_style_is_refused_by_name(models):
    install(models, "ours")
    for change in (lambda: models.set_style("nope", enabled=True), lambda: models.set_default_style("nope"),
                   lambda: models.remove_style("nope")):
        with pytest.raises(ModelError, match="no style LoRA 'nope'"):
            change()


def test_a_style_may_not_take_the_speed_lora_s_name_or_an_unknown_source(models):
    with pytest.raises(ModelError, match="speed LoRA"):
        install(models, "speed")
    with pytest.raises(ModelError, match="not 'somewhere'"):
        install(models, "ours", source="somewhere")


def test_reimporting_a_style_keeps_it_the_default(models):
    install(models, "ours")
    install(models, "bright")
    again = models.import_style("ours", lora_file(models.dir.parent, "ours", b"retrained"), "ours look", 1.2)
    assert again.default and again.weight == 1.2
    assert again.sha256 == sha256_of(models.dir / again.file)


def test_lock_writes_leave_no_partial_files(models):
    install(models, "ours")
    models.set_style("ours", weight=0.5)
    models.set_default_style(None)
    assert sorted(p.name for p in models.dir.rglob("*.part")) == []
    assert json.loads(models.lock_path.read_text())["styles"]["ours"]["weight"] == 0.5


def test_a_lock_from_before_styles_could_be_switched_off_keeps_its_style_drawing(models):
    style = install(models, "ours")
    lock = json.loads(models.lock_path.read_text())
    del lock["default_style"]
    for key in ("enabled", "source"):
        del lock["styles"]["ours"][key]
    models.lock_path.write_text(json.dumps(lock))
    [old] = models.styles()
    assert (old.enabled, old.default, old.source) == (True, True, "imported")
    assert models.active_style().name == "ours"
    second = install(models, "bright")                        # the old style stays the default
    assert not second.default and models.active_style().sha256 == style.sha256


def test_verify_checks_every_installed_style(models):
    install(models, "ours")
    install(models, "off-one", enabled=False)
    assert [(c.model, c.status) for c in models.verify()][1:] == [("style:off-one", "ok"), ("style:ours", "ok")]
    (models.dir / "styles" / "off-one.safetensors").write_bytes(b"changed")
    assert [(c.model, c.status) for c in models.problems()][1:] == [("style:off-one", "wrong")]


# ------------------------------------------------------------------ public styles in the manifest

def test_a_public_style_lora_in_the_manifest_is_optional_with_its_trigger_and_weight(tmp_path):
    etched = load_manifest(write_manifest(tmp_path, PUBLIC_STYLE))["etched"]
    assert etched.kind == "style_lora" and etched.optional
    assert (etched.options["trigger"], etched.options["weight"]) == ("etched metal", 0.8)
    assert not load_manifest(write_manifest(tmp_path))["base"].optional


def test_a_public_style_lora_that_is_not_optional_is_refused(tmp_path):
    with pytest.raises(ModelError, match="'etched' must say optional = true"):
        load_manifest(write_manifest(tmp_path, PUBLIC_STYLE.replace("optional = true", "optional = false")))


def test_a_public_style_lora_without_commercial_use_is_refused_naming_its_licence(tmp_path):
    entry = PUBLIC_STYLE.replace("commercial_use = true\n", "").replace("CreativeML Open RAIL++-M", "CC BY-NC 4.0")
    with pytest.raises(ModelError, match=r"'etched' is licensed 'CC BY-NC 4.0'.*commercial_use = true"):
        load_manifest(write_manifest(tmp_path, entry))


def test_a_public_style_lora_has_one_safetensors_file(tmp_path):
    entry = PUBLIC_STYLE.replace('["etched.safetensors"]', '["etched.safetensors", "extra.safetensors"]')
    with pytest.raises(ModelError, match="exactly one .safetensors file"):
        load_manifest(write_manifest(tmp_path, entry))
    with pytest.raises(ModelError, match="weight 3"):
        load_manifest(write_manifest(tmp_path, PUBLIC_STYLE.replace("weight = 0.8", "weight = 3")))


def test_verify_does_not_miss_an_optional_model_until_it_is_installed(tmp_path, models):
    models.manifest_path.write_text(BASE + PUBLIC_STYLE)
    assert [(c.model, c.status) for c in models.verify()] == [("base", "unpinned")]
    models.import_model("etched", lora_file(tmp_path, "etched"))
    assert [(c.model, c.status) for c in models.verify()] == [("base", "unpinned"), ("etched", "ok")]
    (models.dir / "style-etched" / "etched.safetensors").write_bytes(b"tampered")
    assert [(c.model, c.status) for c in models.problems()] == [("base", "unpinned"), ("etched", "wrong")]


def test_a_style_from_the_manifest_is_installed_off_with_its_source(models, tmp_path):
    # What `diamra models pull etched` does after the download.
    models.manifest_path.write_text(BASE + PUBLIC_STYLE)
    style = models.import_style("etched", lora_file(tmp_path, "etched"), "etched metal", 0.8, enabled=False,
                                source="manifest:etched")
    assert (style.enabled, style.default, style.source, style.weight) == (False, False, "manifest:etched", 0.8)
    assert models.active_style() is None


# ------------------------------------------------------------------ the commands

@pytest.fixture
def data(tmp_path, models) -> Path:
    folder = models.dir.parent
    (folder / "diamra.toml").write_text(f"manifest = {json.dumps(str(models.manifest_path))}\n")
    return folder


def diamra(data: Path, *args) -> int:
    return cli.main(["--data", str(data), "models", *args])


def test_style_commands_switch_styles_on_and_off_and_choose_the_default(data, models, capsys):
    install(models, "ours")
    install(models, "bright", enabled=False, source="trained")
    assert diamra(data, "style", "on", "bright") == 0
    assert diamra(data, "style", "default", "bright") == 0
    assert diamra(data, "style", "weight", "bright", "0.7") == 0
    assert models.active_style().name == "bright" and models.active_style().weight == 0.7
    capsys.readouterr()
    assert diamra(data, "style", "list") == 0
    out = capsys.readouterr().out
    assert "bright" in out and "on, default" in out and "from trained" in out
    assert "Customer rounds are drawn with style bright." in out
    assert diamra(data, "style", "off", "bright") == 0
    assert "base model alone" in capsys.readouterr().out
    assert diamra(data, "style", "remove", "ours") == 0
    assert [s.name for s in models.styles()] == ["bright"]


def test_style_command_errors_say_what_and_exit_2(data, models, capsys):
    install(models, "ours", enabled=False)
    assert diamra(data, "style", "default", "ours") == 2
    assert "Models: The style LoRA 'ours' is off" in capsys.readouterr().err
    assert diamra(data, "style", "on", "nope") == 2
    assert "Models: There is no style LoRA 'nope'" in capsys.readouterr().err
    assert diamra(data, "style", "weight", "ours", "5") == 2
    assert "between 0 and 2" in capsys.readouterr().err


def test_models_list_shows_each_style_s_state_and_source(data, models, capsys):
    install(models, "ours")
    install(models, "trained-1", enabled=False, source="trained")
    assert diamra(data, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("ours" in line and "on, default" in line and "from imported" in line for line in lines)
    assert any("trained-1" in line and "off," in line and "from trained" in line for line in lines)
