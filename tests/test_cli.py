from tests.conftest import run_cme


def test_help_explains_each_command():
    top = run_cme("--help")
    assert top.returncode == 0
    for command in ("generate", "run", "summary"):
        assert command in top.stdout
    run_help = run_cme("run", "--help").stdout
    for option in ("--landing", "--out", "--date", "--from", "--to", "--settings"):
        assert option in run_help
    gen_help = run_cme("generate", "--help").stdout
    for option in ("--out", "--days", "--learners", "--seed"):
        assert option in gen_help


def test_run_needs_a_date_or_a_range(tmp_path):
    (tmp_path / "landing").mkdir()
    proc = run_cme("run", "--landing", tmp_path / "landing", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "--date" in proc.stderr
    proc = run_cme("run", "--landing", tmp_path / "landing", "--out", tmp_path / "out",
                   "--from", "2026-11-18", "--to", "2026-11-16")
    assert proc.returncode == 2 and "before" in proc.stderr
