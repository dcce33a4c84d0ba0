"""The diagnostics commands: --help explains the output, PNGs are written, bad input exits 2."""

import pytest

from rnnlab.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY_MODEL = ["--hidden", "8", "--embedding", "4", "--seq-len", "12", "--batch-size", "2"]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 20, encoding="utf-8")
    return path


@pytest.fixture
def saved_run(tmp_path, text_file):
    from rnnlab.data.vocab import CharVocab
    from rnnlab.models.lm import CharLM, CharLMConfig

    vocab = CharVocab.from_text(text_file.read_text(encoding="utf-8"))
    model = CharLM(CharLMConfig(vocab_size=len(vocab), cell="gru", embedding_size=4,
                                hidden_size=8, num_layers=2))
    model.vocab = vocab
    return model.save_pretrained(tmp_path / "run")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


def assert_one_line_error(code, out, err, *fragments):
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("command, phrases", [
    ("gradflow", ["output:", "per-step factor", "horizon", "beyond T", "N(0, S²/H)"]),
    ("jacobian", ["output:", "spectral norm", "σmax(J)", "spectral radius"]),
    ("scalarflow", ["output:", "(tanh'·w)^N", "boundary", "vanishes"]),
    ("initscale", ["output:", "one panel per cell", "per-step factor"]),
])
def test_help_explains_the_output(capsys, command, phrases):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for phrase in phrases:
        assert phrase in out, phrase


def test_gradflow_fresh_model(capsys, tmp_path, text_file):
    png, csv = tmp_path / "flow.png", tmp_path / "flow.csv"
    code, out, err = run_cli(capsys, "gradflow", "--data", text_file, "--cell", "rnn_tanh",
                             "--layers", "2", "--init-scale", "0.5", *TINY_MODEL,
                             "--out", png, "--csv", csv)
    assert code == 0, err
    assert_png(png)
    assert "many-to-one, layer 2 (top): per-step factor" in out.splitlines()[-1]
    rows = csv.read_text().splitlines()
    assert rows[0] == "t,distance,layer1_last,layer1_every,layer2_last,layer2_every"
    assert len(rows) == 13
    last_row = rows[-1].split(",")
    assert last_row[:2] == ["12", "0"] and last_row[4] == last_row[5]  # both losses agree at T


def test_gradflow_trained_run(capsys, tmp_path, text_file, saved_run):
    png = tmp_path / "run.png"
    code, out, err = run_cli(capsys, "gradflow", "--run", saved_run, "--data", text_file,
                             "--seq-len", "10", "--batch-size", "2", "--out", png)
    assert code == 0, err
    assert_png(png)
    assert f"trained run {saved_run}" in out and "gru 2×8" in out


def test_jacobian_command(capsys, tmp_path, text_file):
    png = tmp_path / "jac.png"
    code, out, err = run_cli(capsys, "jacobian", "--data", text_file, "--cell", "lstm",
                             "--hidden", "8", "--embedding", "4", "--seq-len", "12",
                             "--out", png)
    assert code == 0, err
    assert_png(png)
    assert "ρ(f)=" in out and "layer 1:" in out


def test_scalarflow_command(capsys, tmp_path):
    png = tmp_path / "scalar.png"
    code, out, err = run_cli(capsys, "scalarflow", "--out", png)
    assert code == 0, err
    assert_png(png)
    assert "w = 2.5" in out and "vanishes" in out


def test_initscale_command(capsys, tmp_path, text_file):
    png = tmp_path / "init.png"
    code, out, err = run_cli(capsys, "initscale", "--data", text_file, "--cells", "rnn,gru",
                             "--scales", "0.1,1", "--hidden", "8", "--embedding", "4",
                             "--seq-len", "10", "--batch-size", "2", "--out", png)
    assert code == 0, err
    assert_png(png)
    assert sum(line.split()[0] in ("rnn_tanh", "gru") for line in out.splitlines()) == 4


@pytest.mark.parametrize("argv, fragments", [
    (["gradflow", "--cell", "transformer"], ["'transformer'", "lstm"]),
    (["gradflow", "--hidden", "-3"], ["--hidden", "-3"]),
    (["gradflow", "--seq-len", "0"], ["--seq-len", "0"]),
    (["gradflow", "--batch-size", "-1"], ["--batch-size"]),
    (["gradflow", "--init-scale", "-0.5"], ["--init-scale"]),
    (["gradflow", "--seq-len", "5000"], ["5000"]),
    (["jacobian", "--cell", "lstm", "--method", "closed"], ["closed"]),
    (["jacobian", "--layer", "3"], ["--layer 3"]),
    (["jacobian", "--cell", "elman"], ["'elman'"]),
    (["initscale", "--cells", "rnn,cnn"], ["'cnn'"]),
    (["initscale", "--scales", "0.1,big"], ["'big'"]),
    (["initscale", "--hidden", "0"], ["--hidden"]),
])
def test_bad_input_is_one_line_with_exit_2(capsys, tmp_path, text_file, argv, fragments):
    extra = ["--data", text_file, "--out", tmp_path / "x.png"]
    code, out, err = run_cli(capsys, *argv, *extra)
    assert_one_line_error(code, out, err, *fragments)
    assert not (tmp_path / "x.png").exists()


def test_missing_run_directory(capsys, tmp_path, text_file):
    for command in ("gradflow", "jacobian"):
        code, out, err = run_cli(capsys, command, "--run", tmp_path / "no-such-run",
                                 "--data", text_file, "--out", tmp_path / "x.png")
        assert_one_line_error(code, out, err, "no-such-run", "does not exist")


def test_run_with_architecture_options(capsys, tmp_path, saved_run, text_file):
    code, out, err = run_cli(capsys, "gradflow", "--run", saved_run, "--cell", "lstm",
                             "--data", text_file, "--out", tmp_path / "x.png")
    assert_one_line_error(code, out, err, "--cell", "--run")


def test_scalarflow_bad_values(capsys, tmp_path):
    for argv, fragment in ((["--w", "1,two"], "'two'"), (["--steps", "0"], "--steps"),
                           (["--tanh-derivative", "1.5"], "--tanh-derivative")):
        code, out, err = run_cli(capsys, "scalarflow", *argv, "--out", tmp_path / "s.png")
        assert_one_line_error(code, out, err, fragment)


def test_unwritable_output(capsys, tmp_path):
    code, out, err = run_cli(capsys, "scalarflow", "--out", tmp_path / "missing-dir" / "s.png")
    # The table has been printed by then; the failure is one line on stderr.
    assert code == 2 and "missing-dir" in err and len(err.strip().splitlines()) == 1
