"""Syntax highlighting chosen from the file name: one combined regex per language, per line.

Each language is a tokenizer: one compiled alternation of named groups (comments and strings
first, so keywords inside them are not coloured) plus multi-line constructs (block comments,
triple-quoted strings, fenced code) carried across lines in the block state. A line costs one
regex scan in C and one `setFormat` per token, which keeps a 1 MB document cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePath

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from editor.core.offsets import utf16_length, utf16_offset

__all__ = ["LANGUAGES", "Category", "Language", "SyntaxHighlighter", "language_for_filename"]


class Category(Enum):
    """What a token is; each maps to one colour and style of the theme."""

    KEYWORD = "keyword"
    TYPE = "type"
    BUILTIN = "builtin"
    FUNCTION = "function"
    STRING = "string"
    NUMBER = "number"
    COMMENT = "comment"
    PREPROCESSOR = "preprocessor"
    HEADING = "heading"
    EMPHASIS = "emphasis"
    STRONG = "strong"
    CODE = "code"
    LINK = "link"
    TAG = "tag"
    ATTRIBUTE = "attribute"
    KEY = "key"
    VARIABLE = "variable"
    CONSTANT = "constant"


@dataclass(frozen=True)
class MultiLine:
    """A construct that may span lines: it opens at `start` and closes at `end`."""

    start: str
    end: str
    category: Category


@dataclass(frozen=True)
class Language:
    """A tokenizer: single-line rules tried in order at each position, and multi-line ones."""

    name: str
    rules: tuple[tuple[Category, str], ...]
    multiline: tuple[MultiLine, ...] = ()
    flags: int = 0
    _compiled: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def scanner(self) -> tuple[re.Pattern[str], list[re.Pattern[str]], dict[str, tuple[str, int]]]:
        """(combined pattern, end patterns, group name -> ("rule", category index) or
        ("open", construct index)). Rules must use only non-capturing groups."""
        cached = self._compiled.get("scanner")
        if cached is None:
            parts: list[str] = []
            groups: dict[str, tuple[str, int]] = {}
            # Multi-line openers come first: they decide what the rest of the line is.
            for number, construct in enumerate(self.multiline):
                parts.append(f"(?P<m{number}>{construct.start})")
                groups[f"m{number}"] = ("open", number)
            for number, (_, pattern) in enumerate(self.rules):
                parts.append(f"(?P<r{number}>{pattern})")
                groups[f"r{number}"] = ("rule", number)
            combined = re.compile("|".join(parts), self.flags)
            ends = [re.compile(construct.end, self.flags) for construct in self.multiline]
            cached = (combined, ends, groups)
            self._compiled["scanner"] = cached
        return cached  # type: ignore[return-value]


def _words(*words: str) -> str:
    return r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")\b"


_NUMBER = r"\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*(?:\.[\d_]*)?(?:[eE][+-]?\d+)?)[a-zA-Z]*\b"
_DQ = r'"(?:[^"\\]|\\.)*"?'
_SQ = r"'(?:[^'\\]|\\.)*'?"
_C_COMMENTS = (MultiLine(r"/\*", r"\*/", Category.COMMENT),)
_CALL = r"\b[A-Za-z_]\w*(?=\s*\()"


def _c_like(name: str, keywords: str, types: str, constants: str, *extra: tuple[Category, str],
            strings: tuple[str, ...] = (_DQ, _SQ), multiline: tuple[MultiLine, ...] = _C_COMMENTS) -> Language:
    rules: list[tuple[Category, str]] = [(Category.COMMENT, r"//.*")]
    rules += [(Category.STRING, pattern) for pattern in strings]
    rules += list(extra)
    rules += [
        (Category.KEYWORD, _words(*keywords.split())),
        (Category.TYPE, _words(*types.split())),
        (Category.CONSTANT, _words(*constants.split())),
        (Category.NUMBER, _NUMBER),
        (Category.FUNCTION, _CALL),
    ]
    return Language(name, tuple(rules), multiline)


PYTHON = Language(
    "Python",
    (
        (Category.COMMENT, r"#.*"),
        (Category.STRING, r"[rRbBuUfF]{0,2}" + _DQ),
        (Category.STRING, r"[rRbBuUfF]{0,2}" + _SQ),
        (Category.PREPROCESSOR, r"^\s*@[\w.]+"),
        (Category.KEYWORD, _words(*"""and as assert async await break class continue def del elif
            else except finally for from global if import in is lambda match case nonlocal not or
            pass raise return try while with yield""".split())),
        (Category.CONSTANT, _words("True", "False", "None", "self", "cls")),
        (Category.BUILTIN, _words(*"""print len range int str float bool list dict set tuple
            isinstance super open enumerate zip map filter sorted min max sum any all abs
            repr type object Exception ValueError TypeError KeyError""".split())),
        (Category.NUMBER, _NUMBER),
        (Category.FUNCTION, r"(?<=def )\w+|(?<=class )\w+"),
    ),
    (
        MultiLine(r'[rRbBuUfF]{0,2}"""', r'"""', Category.STRING),
        MultiLine(r"[rRbBuUfF]{0,2}'''", r"'''", Category.STRING),
    ),
)

_JS_KEYWORDS = """break case catch class const continue debugger default delete do else export
    extends finally for function if import in instanceof let new return super switch this throw
    try typeof var void while with yield async await of static get set from as"""
JAVASCRIPT = _c_like(
    "JavaScript", _JS_KEYWORDS, "Array Object String Number Boolean Promise Map Set Error",
    "true false null undefined NaN Infinity",
    strings=(_DQ, _SQ, r"`(?:[^`\\]|\\.)*`"),
)
TYPESCRIPT = _c_like(
    "TypeScript", _JS_KEYWORDS + " interface type enum implements declare namespace readonly "
    "private public protected abstract keyof infer is",
    "string number boolean any unknown never void object Array Promise Record Partial",
    "true false null undefined", strings=(_DQ, _SQ, r"`(?:[^`\\]|\\.)*`"),
)
C_CPP = _c_like(
    "C/C++",
    """auto break case catch class const constexpr continue default delete do else enum explicit
    extern for friend goto if inline namespace new noexcept operator private protected public
    register return sizeof static static_cast dynamic_cast reinterpret_cast struct switch
    template this throw try typedef typename union using virtual volatile while override final""",
    """void bool char short int long float double signed unsigned size_t int8_t int16_t int32_t
    int64_t uint8_t uint16_t uint32_t uint64_t std string vector""",
    "true false nullptr NULL",
    (Category.PREPROCESSOR, r"^\s*#\s*\w+(?:\s*<[^>]*>)?"),
)
RUST = _c_like(
    "Rust",
    """as async await break const continue crate dyn else enum extern fn for if impl in let loop
    match mod move mut pub ref return self Self static struct super trait type unsafe use where
    while""",
    """i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str String Vec
    Option Result Box Rc Arc""",
    "true false None Some Ok Err",
    (Category.PREPROCESSOR, r"#!?\[[^\]]*\]"),
    (Category.BUILTIN, r"\b\w+!"),
    (Category.VARIABLE, r"'[a-z_]\w*\b(?!')"),
    strings=(r'b?r?#*' + _DQ, r"b?'(?:[^'\\]|\\.)'"),
)
GO = _c_like(
    "Go",
    """break case chan const continue default defer else fallthrough for func go goto if import
    interface map package range return select struct switch type var""",
    """bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune
    string uint uint8 uint16 uint32 uint64 uintptr any""",
    "true false nil iota",
    strings=(_DQ, _SQ, r"`[^`]*`"),
)
JAVA = _c_like(
    "Java",
    """abstract assert break case catch class continue default do else enum extends final finally
    for if implements import instanceof interface native new package private protected public
    return static strictfp super switch synchronized this throw throws transient try volatile
    while var record sealed permits yield""",
    "boolean byte char double float int long short void String Object Integer List Map",
    "true false null",
    (Category.PREPROCESSOR, r"@\w+"),
)
JSON = Language(
    "JSON",
    (
        (Category.KEY, _DQ + r"(?=\s*:)"),
        (Category.STRING, _DQ),
        (Category.CONSTANT, _words("true", "false", "null")),
        (Category.NUMBER, r"-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b"),
    ),
)
YAML = Language(
    "YAML",
    (
        (Category.COMMENT, r"(?:^|(?<=\s))#.*"),
        (Category.PREPROCESSOR, r"^(?:---|\.\.\.)\s*$|[&*][\w-]+|!!?\w+"),
        (Category.KEY, r"^\s*(?:-\s+)?[\w.$\-/]+(?=\s*:(?:\s|$))|^\s*(?:-\s+)?" + _DQ + r"(?=\s*:)"),
        (Category.STRING, _DQ),
        (Category.STRING, r"'(?:[^']|'')*'?"),
        (Category.CONSTANT, _words("true", "false", "yes", "no", "on", "off", "null")),
        (Category.NUMBER, _NUMBER),
    ),
)
TOML = Language(
    "TOML",
    (
        (Category.COMMENT, r"#.*"),
        (Category.HEADING, r"^\s*\[\[?[^\]]*\]\]?"),
        (Category.KEY, r"^\s*[\w.\-\"']+(?=\s*=)"),
        (Category.STRING, _DQ),
        (Category.STRING, r"'[^']*'?"),
        (Category.CONSTANT, _words("true", "false")),
        (Category.NUMBER, r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?\b|[+-]?" + _NUMBER),
    ),
    (
        MultiLine(r'"""', r'"""', Category.STRING),
        MultiLine(r"'''", r"'''", Category.STRING),
    ),
)
MARKDOWN = Language(
    "Markdown",
    (
        (Category.HEADING, r"^#{1,6}\s.*|^(?:=+|-+)\s*$"),
        (Category.PREPROCESSOR, r"^\s*(?:[-*+]|\d+[.)])\s|^\s*>"),
        (Category.CODE, r"`[^`]+`"),
        (Category.STRONG, r"\*\*[^*]+\*\*|__[^_]+__"),
        (Category.EMPHASIS, r"(?<![\w*])\*[^*\s][^*]*\*|(?<!\w)_[^_\s][^_]*_(?!\w)"),
        (Category.LINK, r"!?\[[^\]]*\]\([^)]*\)|<https?://[^>]+>|\bhttps?://\S+"),
    ),
    (MultiLine(r"^\s*(?:```|~~~).*$", r"^\s*(?:```|~~~)\s*$", Category.CODE),),
)
HTML = Language(
    "HTML",
    (
        (Category.PREPROCESSOR, r"<!DOCTYPE[^>]*>|&\w+;|&#\d+;"),
        (Category.TAG, r"</?[A-Za-z][\w:-]*|/?>"),
        (Category.ATTRIBUTE, r"\b[\w:-]+(?==)"),
        (Category.STRING, _DQ),
        (Category.STRING, _SQ),
    ),
    (MultiLine(r"<!--", r"-->", Category.COMMENT),),
)
CSS = Language(
    "CSS",
    (
        (Category.STRING, _DQ),
        (Category.STRING, _SQ),
        (Category.PREPROCESSOR, r"@[\w-]+"),
        (Category.KEY, r"[\w-]+(?=\s*:[^:{}]*[;}]|\s*:[^:{]*$)"),
        (Category.NUMBER, r"#[0-9a-fA-F]{3,8}\b|-?\b\d+(?:\.\d+)?(?:px|em|rem|%|vh|vw|s|ms|pt|deg|fr)?\b"),
        (Category.TAG, r"[.#]?[A-Za-z_][\w-]*(?=[^{;]*\{)"),
        (Category.CONSTANT, r"!important\b"),
    ),
    _C_COMMENTS,
)
SHELL = Language(
    "Shell",
    (
        (Category.COMMENT, r"(?:^|(?<=\s))#.*"),
        (Category.STRING, _DQ),
        (Category.STRING, r"'[^']*'?"),
        (Category.VARIABLE, r"\$(?:\{[^}]*\}|\w+|[@*#?$!0-9-])"),
        (Category.KEYWORD, _words(*"""if then else elif fi case esac for select while until do done
            in function time return exit break continue local export readonly declare set
            unset shift source trap""".split())),
        (Category.BUILTIN, _words(*"echo printf cd pwd test read eval exec alias true false".split())),
        (Category.NUMBER, r"\b\d+\b"),
    ),
)
LATEX = Language(
    "LaTeX",
    (
        (Category.COMMENT, r"(?<!\\)%.*"),
        (Category.KEYWORD, r"\\(?:begin|end|section|subsection|subsubsection|chapter|part|"
                           r"paragraph|documentclass|usepackage|newcommand|renewcommand)\b\*?"),
        (Category.FUNCTION, r"\\(?:[A-Za-z@]+|.)"),
        (Category.STRING, r"\$\$[^$]*\$\$|\$(?:[^$\\]|\\.)+\$"),
        (Category.ATTRIBUTE, r"(?<=\\begin)\{[^}]*\}|(?<=\\end)\{[^}]*\}"),
        (Category.NUMBER, r"\b\d+(?:\.\d+)?(?:pt|em|ex|cm|mm|in)?\b"),
    ),
)

LANGUAGES: dict[str, Language] = {
    language.name: language
    for language in (PYTHON, JAVASCRIPT, TYPESCRIPT, C_CPP, RUST, GO, JAVA, JSON, YAML, TOML,
                     MARKDOWN, HTML, CSS, SHELL, LATEX)
}

_BY_SUFFIX: dict[str, Language] = {}
for _language, _suffixes in (
    (PYTHON, ".py .pyw .pyi"),
    (JAVASCRIPT, ".js .mjs .cjs .jsx"),
    (TYPESCRIPT, ".ts .tsx .mts .cts"),
    (C_CPP, ".c .h .cc .cpp .cxx .hh .hpp .hxx .ino"),
    (RUST, ".rs"),
    (GO, ".go"),
    (JAVA, ".java"),
    (JSON, ".json .jsonc .geojson .ipynb"),
    (YAML, ".yaml .yml"),
    (TOML, ".toml"),
    (MARKDOWN, ".md .markdown .mdown"),
    (HTML, ".html .htm .xhtml .xml .svg .vue"),
    (CSS, ".css .scss .less"),
    (SHELL, ".sh .bash .zsh .ksh"),
    (LATEX, ".tex .sty .cls .ltx"),
):
    for _suffix in _suffixes.split():
        _BY_SUFFIX[_suffix] = _language
_BY_NAME = {".bashrc": SHELL, ".profile": SHELL, ".zshrc": SHELL, "pyproject.lock": TOML,
            "Cargo.lock": TOML, "Pipfile": TOML}


def language_for_filename(name: str) -> Language | None:
    """The language for a file name (by suffix, case-insensitive), or None for plain text."""
    path = PurePath(name)
    return _BY_NAME.get(path.name) or _BY_SUFFIX.get(path.suffix.lower())


# Colours chosen for contrast on white and on a dark grey background.
_LIGHT = {
    Category.KEYWORD: ("#0033b3", True, False), Category.TYPE: ("#007a7a", False, False),
    Category.BUILTIN: ("#7a3e9d", False, False), Category.FUNCTION: ("#00627a", False, False),
    Category.STRING: ("#067d17", False, False), Category.NUMBER: ("#1750eb", False, False),
    Category.COMMENT: ("#8c8c8c", False, True), Category.PREPROCESSOR: ("#9e880d", False, False),
    Category.HEADING: ("#0033b3", True, False), Category.EMPHASIS: ("#444444", False, True),
    Category.STRONG: ("#222222", True, False), Category.CODE: ("#a8490e", False, False),
    Category.LINK: ("#2a5db0", False, False), Category.TAG: ("#0033b3", False, False),
    Category.ATTRIBUTE: ("#7a3e9d", False, False), Category.KEY: ("#871094", False, False),
    Category.VARIABLE: ("#a8490e", False, False), Category.CONSTANT: ("#0033b3", False, False),
}
_DARK = {
    Category.KEYWORD: ("#cc7832", True, False), Category.TYPE: ("#4ec9b0", False, False),
    Category.BUILTIN: ("#c586c0", False, False), Category.FUNCTION: ("#ffc66d", False, False),
    Category.STRING: ("#6aab73", False, False), Category.NUMBER: ("#6897bb", False, False),
    Category.COMMENT: ("#7f848e", False, True), Category.PREPROCESSOR: ("#bbb529", False, False),
    Category.HEADING: ("#61afef", True, False), Category.EMPHASIS: ("#d0d0d0", False, True),
    Category.STRONG: ("#f0f0f0", True, False), Category.CODE: ("#e5c07b", False, False),
    Category.LINK: ("#56b6c2", False, False), Category.TAG: ("#e8bf6a", False, False),
    Category.ATTRIBUTE: ("#bababa", False, False), Category.KEY: ("#9876aa", False, False),
    Category.VARIABLE: ("#e06c75", False, False), Category.CONSTANT: ("#cc7832", False, False),
}


def _formats(dark: bool) -> dict[Category, QTextCharFormat]:
    formats = {}
    for category, (color, bold, italic) in (_DARK if dark else _LIGHT).items():
        text_format = QTextCharFormat()
        text_format.setForeground(QColor(color))
        if bold:
            text_format.setFontWeight(QFont.Weight.Bold)
        text_format.setFontItalic(italic)
        formats[category] = text_format
    return formats


# A long document is coloured in slices of this many lines per event-loop turn (about 10 ms),
# from the top: colouring 80,000 lines at once froze the window for over a second.
PROGRESSIVE_LINES = 400
_NOT_YET = -2  # the state of a line the progressive pass has not reached


class SyntaxHighlighter(QSyntaxHighlighter):
    """Colours one QTextDocument with a `Language`; block state = open multi-line construct."""

    def __init__(self, document: QTextDocument, language: Language, *, dark: bool = False) -> None:
        self.language = language
        self._pattern, self._ends, self._groups = language.scanner()
        self._formats = _formats(dark)
        self._categories = [category for category, _ in language.rules]
        # Lines past this one wait for the progressive pass (None: colour every line at once).
        self._last_line: int | None = None
        if document.blockCount() > PROGRESSIVE_LINES:
            self._last_line = PROGRESSIVE_LINES - 1
        super().__init__(document)
        self._schedule_next_slice()

    @property
    def complete(self) -> bool:
        """Whether every line has been coloured at least once."""
        return self._last_line is None

    def _colour_next_slice(self) -> None:
        document = self.document()
        if self._last_line is None or document is None:
            return
        first = self._last_line + 1
        if first >= document.blockCount():
            self._last_line = None
            return
        self._last_line = first + PROGRESSIVE_LINES - 1
        # Qt colours this line and goes on while each line's end state changes: up to the
        # first line past the slice, which keeps its "not yet" state.
        self.rehighlightBlock(document.findBlockByNumber(first))
        self._schedule_next_slice()

    def _schedule_next_slice(self) -> None:
        if self._last_line is not None:
            # With `self` as the context: dropped if this highlighter is deleted first.
            QTimer.singleShot(0, self, self._colour_next_slice)

    def set_dark(self, dark: bool) -> None:
        """Switch between the light and the dark colour set, and recolour."""
        self._formats = _formats(dark)
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt API)
        """Colour one line (Qt positions are UTF-16 units; the regexes see code points)."""
        if self._last_line is not None and self.currentBlock().blockNumber() > self._last_line:
            self.setCurrentBlockState(_NOT_YET)
            return
        # Lines with characters outside the BMP need index conversion; most lines do not.
        simple = text.isascii() or utf16_length(text) == len(text)
        formats = self._formats
        set_format = self.setFormat

        def apply(start: int, end: int, category: Category) -> None:
            if simple:
                set_format(start, end - start, formats[category])
            else:
                first = utf16_offset(text, start)
                set_format(first, utf16_offset(text, end) - first, formats[category])

        position = 0
        open_construct = max(-1, self.previousBlockState())
        if open_construct >= 0:
            construct = self.language.multiline[open_construct]
            closing = self._ends[open_construct].search(text)
            if closing is None:
                apply(0, len(text), construct.category)
                self.setCurrentBlockState(open_construct)
                return
            apply(0, closing.end(), construct.category)
            position = closing.end()
        self.setCurrentBlockState(-1)
        while position <= len(text):
            match = self._pattern.search(text, position)
            if match is None:
                return
            kind, number = self._groups[match.lastgroup]  # type: ignore[index]
            if kind == "rule":
                if match.end() > match.start():
                    apply(match.start(), match.end(), self._categories[number])
                position = max(match.end(), match.start() + 1)
                continue
            construct = self.language.multiline[number]
            closing = self._ends[number].search(text, match.end())
            if closing is None:
                apply(match.start(), len(text), construct.category)
                self.setCurrentBlockState(number)
                return
            apply(match.start(), closing.end(), construct.category)
            position = closing.end()
