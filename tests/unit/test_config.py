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
