"""The main window: open/save keeping bytes, titles, unsaved prompts, recent files, prefs."""

from __future__ import annotations

import codecs

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from editor.core.document import SharedDocument
from editor.qt.editor_widget import RemoteCursor
from editor.qt.main_window import FileFormat, MainWindow, UnsavedChoice
from editor.qt.preferences import OKABE_ITO, Preferences, load_preferences
from tests.qt.helpers import place_caret, shortcut, type_text


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, monkeypatch) -> MainWindow:
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    # qtbot closes the window after the test: never let a modal question block that.
    monkeypatch.setattr(window, "ask_unsaved", lambda tabs: UnsavedChoice.DISCARD)
    return window


def shown_title(window: MainWindow) -> str:
    return window.windowTitle().replace("[*]", "*" if window.isWindowModified() else "")


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + "caf\u00e9 \U0001F600\r\nline\r\n".encode(),
        codecs.BOM_UTF16_LE + "x\u4e2d\r\n".encode("utf-16-le"),
        b"latin \xe9\xe8\rmac\r",
        b"no newline at end",
    ],
)
def test_open_then_save_is_byte_identical(window, tmp_path, data):
    path = tmp_path / "file.txt"
    path.write_bytes(data)
    tab = window.open_file(path)
    assert tab is not None and "\r" not in tab.editor.toPlainText()
    assert window.save(tab)
    assert path.read_bytes() == data


def test_edits_are_saved_with_the_files_format(window, tmp_path):
    path = tmp_path / "crlf.py"
    path.write_bytes(codecs.BOM_UTF8 + b"a = 1\r\n")
    tab = window.open_file(path)
    tab.editor.moveCursor(tab.editor.textCursor().MoveOperation.End)
    type_text(tab.editor, "b = '\u00e9'\n")
    assert tab.modified and shown_title(window) == "crlf.py* \u2014 Chorus"
    window.save()
    assert path.read_bytes() == codecs.BOM_UTF8 + "a = 1\r\nb = '\u00e9'\r\n".encode()
    assert not tab.modified and shown_title(window) == "crlf.py \u2014 Chorus"
    assert window.encoding_label.text() == "UTF-8 with BOM" and window.newline_label.text() == "CRLF"
    assert tab.editor.language().name == "Python"


def test_undo_after_open_keeps_the_file_text(window, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("loaded\n")
    tab = window.open_file(path)
    type_text(tab.editor, "typed ")
    assert tab.modified
    shortcut(tab.editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    shortcut(tab.editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert tab.document.text == "loaded\n"
    assert not tab.modified and shown_title(window) == "a.txt \u2014 Chorus"


def test_a_peers_edit_undone_by_the_peer_leaves_the_tab_unmodified(window, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("loaded\n")
    tab = window.open_file(path)
    peer = SharedDocument(tab.document.doc_id)
    peer.apply_update(tab.document.encode_state(), source="tab")
    sent = peer.state_vector()
    peer.replace(0, 6, "LOADED")  # the same length: the texts must really be compared
    tab.document.apply_update(peer.encode_state(since=sent), source="peer")
    assert tab.editor.toPlainText() == "LOADED\n" and tab.modified
    sent = peer.state_vector()
    assert peer.undo()
    tab.document.apply_update(peer.encode_state(since=sent), source="peer")
    assert tab.editor.toPlainText() == "loaded\n" and not tab.modified


def test_undecodable_file_offers_an_encoding(window, tmp_path, monkeypatch):
    path = tmp_path / "weird.txt"
    path.write_bytes("\u4e2d\u6587".encode("gb18030") + b"\x00")
    problems = []

    def answer(asked_path, problem):
        problems.append(problem)
        return "utf-16-le" if len(problems) == 1 else None

    monkeypatch.setattr(window, "ask_encoding", answer)
    assert window.open_file(path) is None
    assert "binary" in problems[0] and "not valid utf-16-le" in problems[1]
    assert window.tabs.count() == 0


def test_encoding_choice_opens_the_file(window, tmp_path, monkeypatch):
    path = tmp_path / "sjis.txt"
    path.write_bytes("\u65e5\u672c\u8a9e\n".encode("shift_jis"))
    monkeypatch.setattr(window, "ask_encoding", lambda _path, _problem: "shift_jis")
    tab = window.open_file(path, encoding="utf-8")
    assert tab.document.text == "\u65e5\u672c\u8a9e\n"
    assert tab.file_format == FileFormat("shift_jis", False, "\n")


def test_unencodable_text_is_saved_as_utf8_when_accepted(window, tmp_path, monkeypatch):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xe9\n")
    tab = window.open_file(path)
    type_text(tab.editor, "\U0001F600")
    monkeypatch.setattr(window, "ask_save_unencodable", lambda _tab, _problem: True)
    assert window.save(tab)
    assert path.read_bytes() == "\U0001F600caf\u00e9\n".encode()


def save_elsewhere(path, text: str) -> None:
    """Another program saves the file (write aside, rename over it, as editors do)."""
    staged = path.with_name(path.name + ".saving")
    staged.write_text(text, encoding="utf-8")
    staged.replace(path)


def test_a_file_saved_by_another_program_is_reloaded_in_its_tab(qtbot, window, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("one\ntwo 😀\nthree\n", encoding="utf-8")
    tab = window.open_file(path)
    place_caret(tab.editor, len("one\ntwo 😀\nth".encode("utf-16-le")) // 2)
    save_elsewhere(path, "ONE\ntwo 😀\nthree\n")
    qtbot.waitUntil(lambda: tab.document.text == "ONE\ntwo 😀\nthree\n", timeout=5000)
    assert tab.editor.toPlainText() == tab.document.text
    assert not tab.modified  # the tab holds what the file holds
    assert tab.editor.textCursor().position() == len("ONE\ntwo 😀\nth".encode("utf-16-le")) // 2
    assert window.statusBar().currentMessage() == "notes.txt was changed by another program: reloaded"


def test_unsaved_edits_merge_with_a_file_saved_by_another_program(qtbot, window, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("alpha\nbeta\n", encoding="utf-8")
    tab = window.open_file(path)
    tab.editor.moveCursor(tab.editor.textCursor().MoveOperation.End)
    type_text(tab.editor, "typed here\n")
    save_elsewhere(path, "saved elsewhere\nalpha\nbeta\n")
    qtbot.waitUntil(lambda: "saved elsewhere" in tab.document.text, timeout=5000)
    assert tab.document.text == "saved elsewhere\nalpha\nbeta\ntyped here\n"
    assert tab.modified  # the typed line is not on disk yet
    assert window.statusBar().currentMessage().endswith(": merged with your unsaved edits")
    assert window.save(tab)
    assert path.read_text(encoding="utf-8") == "saved elsewhere\nalpha\nbeta\ntyped here\n"


def test_saving_merges_a_change_made_on_disk_since_the_last_check(window, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("alpha\n", encoding="utf-8")
    tab = window.open_file(path)
    window._disk_timer.stop()  # the save itself must notice, not the periodic check
    type_text(tab.editor, "mine ")
    save_elsewhere(path, "alpha\ntheirs\n")
    assert window.save(tab)
    assert path.read_text(encoding="utf-8") == "mine alpha\ntheirs\n"
    assert tab.editor.toPlainText() == "mine alpha\ntheirs\n" and not tab.modified


def test_a_file_deleted_by_another_program_keeps_its_text_and_asks_before_closing(
        qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "notes.txt"
    path.write_text("keep me\n", encoding="utf-8")
    tab = window.open_file(path)
    path.unlink()
    qtbot.waitUntil(lambda: tab.modified, timeout=5000)
    assert tab.document.text == "keep me\n"
    asked = []
    monkeypatch.setattr(window, "ask_unsaved", lambda tabs: asked.append(tabs) or UnsavedChoice.CANCEL)
    assert not window.close_tab(tab) and asked


def test_closing_a_modified_tab_asks(window, monkeypatch):
    tab = window.new_document()
    type_text(tab.editor, "draft")
    answers = [UnsavedChoice.CANCEL, UnsavedChoice.DISCARD]
    monkeypatch.setattr(window, "ask_unsaved", lambda tabs: answers.pop(0))
    assert not window.close_tab(tab)
    assert window.tabs.count() == 1
    assert window.close_tab(tab)
    assert window.tabs.count() == 0 and window.windowTitle() == "Chorus"


def test_quit_saves_when_asked(window, tmp_path, monkeypatch):
    tab = window.new_document()
    type_text(tab.editor, "keep me")
    target = tmp_path / "kept.md"
    monkeypatch.setattr(window, "ask_unsaved", lambda tabs: UnsavedChoice.SAVE)
    monkeypatch.setattr(window, "ask_save_path", lambda tab: target)
    window.show()
    window.quit_action.trigger()
    assert not window.isVisible()
    assert target.read_text() == "keep me"
    assert tab.title == "kept.md"


def test_quit_cancelled_keeps_the_window(window, monkeypatch):
    tab = window.new_document()
    type_text(tab.editor, "x")
    monkeypatch.setattr(window, "ask_unsaved", lambda tabs: UnsavedChoice.CANCEL)
    window.show()
    window.quit_action.trigger()
    assert window.isVisible()


def test_recent_files_are_remembered(qtbot, window, settings, tmp_path):
    for name in ("one.txt", "two.txt", "one.txt"):
        (tmp_path / name).write_text(name)
        window.open_file(tmp_path / name)
    assert window.recent_files() == [tmp_path / "one.txt", tmp_path / "two.txt"]
    assert window.tabs.count() == 2  # reopening switches to the open tab
    other = MainWindow(settings=settings)
    qtbot.addWidget(other)
    other._fill_recent_menu()
    texts = [action.text() for action in other.recent_menu.actions()]
    assert texts[:2] == [str(tmp_path / "one.txt"), str(tmp_path / "two.txt")]


def test_status_bar_shows_line_and_column_in_code_points(window):
    tab = window.new_document()
    type_text(tab.editor, "a\n\U0001F600\u4e2dx")
    assert window.location_label.text() == "Ln 2, Col 4"


def test_menus_and_shortcuts(window):
    menus = {action.text().replace("&", ""): action.menu() for action in window.menuBar().actions()}
    assert list(menus) == ["File", "Edit", "View", "Network"]
    shortcuts = {
        action.text().replace("&", "").rstrip("…"): action.shortcut().toString()
        for menu in menus.values() for action in menu.actions() if not action.shortcut().isEmpty()
    }
    assert shortcuts["New"] == "Ctrl+N" and shortcuts["Open"] == "Ctrl+O"
    assert shortcuts["Save"] == "Ctrl+S" and shortcuts["Save As"] == "Ctrl+Shift+S"
    assert shortcuts["Close"] == "Ctrl+W" and shortcuts["Quit"] == "Ctrl+Q"
    assert shortcuts["Find"] == "Ctrl+F" and shortcuts["Replace"] == "Ctrl+H"
    assert shortcuts["Go to Line"] == "Ctrl+G"
    assert shortcuts["Undo"] == "Ctrl+Z" and shortcuts["Redo"] == "Ctrl+Shift+Z"


def test_word_wrap_and_zoom_apply_to_the_current_editor(window):
    tab = window.new_document()
    window.word_wrap_action.trigger()
    assert tab.editor.word_wrap()
    size = tab.editor.font().pointSizeF()
    window._zoom(+2)
    assert tab.editor.font().pointSizeF() == size + 2
    window._zoom(None)
    assert tab.editor.font().pointSizeF() == size


def test_preferences_persist(window, settings):
    defaults = load_preferences(settings)
    assert defaults.display_name and defaults.color in dict(OKABE_ITO).values()
    chosen = Preferences("Ada", "#0072B2", 5000, False)
    window.set_preferences(chosen)
    assert load_preferences(QSettings(settings.fileName(), QSettings.Format.IniFormat)) == chosen


def test_screenshot_looks_like_an_editor(qtbot, window, tmp_path):
    path = tmp_path / "example.py"
    path.write_text(
        '"""A small example."""\n\nimport sys\n\n\ndef greet(name: str) -> str:\n'
        '    # Emoji and CJK must render, not show boxes.\n'
        '    return f"Hello, {name} \U0001F600 \u4f60\u597d"\n\n\nclass Counter:\n'
        '    def __init__(self):\n        self.count = 0\n\n'
        'if __name__ == "__main__":\n    print(greet(sys.argv[1]), 42, True)\n'
    )
    tab = window.open_file(path)
    tab.editor.set_remote_cursors([RemoteCursor(7, "Grace", "#E69F00", 60, 50),
                                   RemoteCursor(8, "Linus", "#56B4E9", 200, 200)])
    window.network_dock.show()
    window.participants_list.addItems(["Grace", "Linus"])
    window.set_sync_status("Synced")
    window.resize(1000, 560)
    window.show()
    qtbot.waitExposed(window)
    QApplication.processEvents()
    image = window.grab()
    assert image.save(str(tmp_path / "window.png"))
    assert image.width() > 500


def test_with_no_tab_the_window_says_how_to_open_one(window):
    assert window.empty_hint.isVisibleTo(window) and "New (Ctrl+N)" in window.empty_hint.text()
    assert "Network panel" not in window.empty_hint.text()  # a local editor has none
    tab = window.new_document()
    assert tab.isVisibleTo(window) and not window.empty_hint.isVisibleTo(window)
    assert window.close_tab(tab)
    assert window.empty_hint.isVisibleTo(window)
