from inspection.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "detect" in out and "bench" in out


def test_first_run_message_names_the_real_data_folder(tmp_path, capsys):
    from inspection.cli.station import _announce

    data = tmp_path / "plant data" / "station 1"
    _announce("TOKEN123", data_dir=data)
    out = capsys.readouterr().out
    assert "TOKEN123" in out and "DATA_DIR" not in out and "DIR)" not in out
    assert f"--data '{data}'" in out
