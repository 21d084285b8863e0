import pytest

from appliance.config import SettingsError, load_settings


def test_file_then_environment_then_arguments(tmp_path, monkeypatch):
    (tmp_path / "diamra.toml").write_text('store_name = "Maison Or"\ncustomer_port = 9000\nstaff_port = 9001\n')
    monkeypatch.setenv("DIAMRA_STAFF_PORT", "9100")
    settings = load_settings(tmp_path, customer_port=9200)
    assert settings.store_name == "Maison Or"
    assert settings.staff_port == 9100
    assert settings.customer_port == 9200
    assert settings.database_path == tmp_path / "diamra.db"


def test_a_bad_value_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("DIAMRA_CUSTOMER_PORT", "eighty")
    with pytest.raises(SettingsError, match="customer_port"):
        load_settings(tmp_path)


def test_unknown_generator_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="generator"):
        load_settings(tmp_path, generator="dalle")


def test_a_broken_settings_file_says_where(tmp_path):
    (tmp_path / "diamra.toml").write_text("store_name = \n")
    with pytest.raises(SettingsError, match="diamra.toml"):
        load_settings(tmp_path)


def test_the_installed_settings_file_overrides_the_data_folder_s(tmp_path, monkeypatch):
    (tmp_path / "diamra.toml").write_text('store_name = "From data"\nstaff_port = 9001\n')
    etc = tmp_path / "etc.toml"
    etc.write_text('store_name = "Maison Or"\n')
    monkeypatch.setenv("DIAMRA_CONFIG", str(etc))
    settings = load_settings(tmp_path)
    assert settings.store_name == "Maison Or" and settings.staff_port == 9001


def test_the_accent_colour_must_be_a_hex_colour(tmp_path):
    assert load_settings(tmp_path, accent_colour="#8a6424").accent_colour == "#8a6424"
    assert load_settings(tmp_path, accent_colour="#fa0").accent_colour == "#fa0"
    for bad in ("gold", "8a6424", "#8a642", "rgb(1, 2, 3)"):
        with pytest.raises(SettingsError, match="accent_colour"):
            load_settings(tmp_path, accent_colour=bad)


def test_the_store_logo_is_an_image_file_on_the_box_or_a_static_address(tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert load_settings(tmp_path, store_logo="logo.png").store_logo_path == tmp_path / "logo.png"
    assert load_settings(tmp_path, store_logo=str(tmp_path / "logo.png")).store_logo_path == tmp_path / "logo.png"
    assert load_settings(tmp_path, store_logo="/static/favicon.svg").store_logo_path is None
    assert load_settings(tmp_path).store_logo_path is None
    (tmp_path / "logo.gif").write_bytes(b"GIF89a")
    for bad, why in (("missing.png", "not a file"), ("logo.gif", "PNG"), ("https://cdn.example.com/logo.png", "own images")):
        with pytest.raises(SettingsError, match=f"store_logo.*{why}"):
            load_settings(tmp_path, store_logo=bad)


def test_branding_comes_from_the_environment_too(tmp_path, monkeypatch):
    monkeypatch.setenv("DIAMRA_ACCENT_COLOUR", "#123456")
    monkeypatch.setenv("DIAMRA_STORE_LOGO", "/static/favicon.svg")
    settings = load_settings(tmp_path)
    assert (settings.accent_colour, settings.store_logo) == ("#123456", "/static/favicon.svg")


def test_the_compile_mode_is_checked(tmp_path):
    assert load_settings(tmp_path).sdxl_compile_mode == "default"
    assert load_settings(tmp_path, sdxl_compile_mode="max-autotune").sdxl_compile_mode == "max-autotune"
    with pytest.raises(SettingsError, match="sdxl_compile_mode"):
        load_settings(tmp_path, sdxl_compile_mode="fastest")
