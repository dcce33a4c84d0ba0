"""The Stanford Sentiment Treebank's labelled parse trees: reader, label schemes, phrases.

SST ships each sentence as one line holding a binarised PTB-style tree in which every node,
leaves included, carries a sentiment label 0-4 (0 very negative ... 4 very positive):

    (3 (2 (2 The) (2 Rock)) (4 (3 (2 is) ...) (2 .)))

This is the form users meet (the Stanford release trainDevTestTrees_PTB.zip, pytreebank,
torchtext's SST), and the only form in which the phrase-level labels exist. Every node is a
labelled span of the sentence's words; training on all of them ("phrase level", Socher et al.
2013, Kim 2014) gives about ten times more examples than the sentences alone.

Grammar (one tree per non-blank line; spaces and tabs separate tokens; columns are 1-based):

    tree  := "(" LABEL WORD ")"  |  "(" LABEL tree+ ")"
    LABEL := an integer 0-4

A line that breaks it raises RnnlabError naming file:line:column and what was expected: a line
that does not start with "(" (not a tree file), a missing or out-of-range label, an empty node
"()" or "(2 )", a node holding both a word and subtrees or two words, a ")" with no "(", a tree
left open at the end of the line, text after the tree closed.

Text of a span: its leaves joined by single spaces, after undoing the PTB escapes, the same way
for training and for scoring (the model never sees an escape it could not meet in plain text):

    -LRB- -RRB- -LSB- -RSB- -LCB- -RCB-   ->  ( ) [ ] { }
    ``  ''                                ->  "
    \\/  \\*                                ->  /  *

Case is kept here; the vocabulary lower-cases (rnnlab.data.wordvocab), and de-duplication of
phrases follows the same choice (`TreeOptions.lowercase`).

Label schemes (`LABEL_SCHEMES`):
    fine    the five labels as they are: "0" ... "4" (SST-5)
    binary  2 (neutral) dropped; 0, 1 -> "0" (negative); 3, 4 -> "1" (positive) (SST-2). The
            names are those of the stsa.binary.* files, so runs trained on either evaluate on
            both and may form one ensemble.

Examples: `sentence_examples` gives one per tree (root span, root label): what evaluation uses,
as in the literature. `phrase_examples` gives every labelled node of every tree, de-duplicated
on (label, text); a sentence is a phrase too (its root). Phrases come only from the trees they
are given, so training phrases can contain a dev sentence only if the training file contains it.
In the SST files no SST-2 dev sentence occurs in train.txt, as a sentence or as a phrase; three
neutral SST-5 dev sentences do (docs/sst.md; tests/classify/test_sst_trees.py checks both).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.classification import Example
from rnnlab.data.textfile import read_text
from rnnlab.errors import RnnlabError

MAX_LABEL = 4
LABEL_SCHEMES = ("fine", "binary")
_BINARY = {0: "0", 1: "0", 3: "1", 4: "1"}          # 2 (neutral) has no binary label

PTB_TOKENS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{",
              "-RCB-": "}", "``": '"', "''": '"'}
_PTB_BACKSLASH = re.compile(r"\\([/*])")
# "(", ")", a run of anything else but whitespace, or whitespace: the tokens of a tree line.
# Only ASCII whitespace separates: SST has a leaf with a no-break space inside ("8\xa01\\/2").
_TOKEN = re.compile(r"(\()|(\))|([^ \t\r\f\v()]+)|[ \t\r\f\v]+")
# A line that opens with "(" and a number is taken for a tree by format detection.
TREE_START = re.compile(r"\s*\(\s*\d")


@dataclass(frozen=True)
class Tree:
    """One sentence: its raw leaves (PTB tokens as in the file) and every node as a span.

    spans: (start, end, label) over leaves[start:end], in post-order (children before their
    parent), so the root — (0, len(leaves), label) — is the last one.
    """
    leaves: tuple[str, ...]
    spans: tuple[tuple[int, int, int], ...]
    line: int

    @property
    def label(self) -> int:
        return self.spans[-1][2]

    @property
    def text(self) -> str:
        return span_text(self.leaves, 0, len(self.leaves))

    def phrases(self) -> list[tuple[str, int]]:
        """(text, label) of every node, in post-order (the sentence itself last)."""
        words = [leaf_text(leaf) for leaf in self.leaves]
        return [(" ".join(words[start:end]), label) for start, end, label in self.spans]


@dataclass(frozen=True)
class TreeOptions:
    """How trees become examples: the label scheme, phrases or sentences only, and whether
    phrases that differ only in case count as one (match the vocabulary's lower-casing)."""
    labels: str = "fine"
    phrases: bool = False
    lowercase: bool = True

    def __post_init__(self) -> None:
        check_scheme(self.labels)


def check_scheme(scheme: str) -> None:
    if scheme not in LABEL_SCHEMES:
        raise RnnlabError(f"unknown label scheme {scheme!r}; choose one of "
                          f"{', '.join(LABEL_SCHEMES)} (binary drops the neutral label 2)")


def scheme_label(label: int, scheme: str) -> str | None:
    """The label of a node under a scheme; None where the scheme drops it (binary: 2)."""
    return str(label) if scheme == "fine" else _BINARY.get(label)


def scheme_labels(scheme: str) -> list[str]:
    """All labels a scheme can give, in order."""
    check_scheme(scheme)
    return [str(i) for i in range(MAX_LABEL + 1)] if scheme == "fine" else ["0", "1"]


def positive_probability(probabilities, labels: list[str]):
    """(N,) probability of the binary label "1" (positive) from a model's (N, C) class
    probabilities (a numpy array) under its label list: a binary model's own; for a five-class
    model its mass on 3 and 4 over its mass on 0, 1, 3 and 4, since the binary scheme drops the
    neutral 2. So models trained on either scheme can be scored, and ensembled, on SST-2."""
    scheme = scheme_of_labels(labels)
    if scheme is None:
        raise RnnlabError(f"labels {list(labels)} are neither the binary nor the fine scheme")
    if scheme == "binary":
        return probabilities[:, labels.index("1")]
    positive = sum(probabilities[:, labels.index(str(k))] for k, v in _BINARY.items() if v == "1")
    kept = sum(probabilities[:, labels.index(str(k))] for k in _BINARY)
    return positive / kept


def scheme_of_labels(labels: list[str]) -> str | None:
    """The scheme whose label list is exactly `labels` (a trained model's), else None."""
    return next((s for s in LABEL_SCHEMES if scheme_labels(s) == list(labels)), None)


def leaf_text(leaf: str) -> str:
    """A leaf as plain text (the PTB escapes undone; see the module docstring)."""
    return PTB_TOKENS.get(leaf) or _PTB_BACKSLASH.sub(r"\1", leaf)


def span_text(leaves, start: int, end: int) -> str:
    return " ".join(leaf_text(leaf) for leaf in leaves[start:end])


# --------------------------------------------------------------------------------------------
# Parsing


def parse_tree(line: str, path: str | os.PathLike = "<tree>", line_number: int = 1) -> Tree:
    """One tree from one line of text; RnnlabError naming path:line:column if malformed."""

    def fail(column: int, message: str):
        raise RnnlabError(f"{path}:{line_number}:{column}: {message}")

    tokens = [(m.group(), m.start() + 1) for m in _TOKEN.finditer(line) if m.lastindex]
    end_column = len(line.rstrip()) + 1
    if not tokens:
        fail(1, "empty line; expected a tree")
    if tokens[0][0] != "(":
        fail(tokens[0][1], f"expected '(' to open a tree, found {_show(tokens[0][0])}; is this "
                           "a file of SST trees like '(3 (2 A) (4 fine) (2 film))'?")
    leaves: list[str] = []
    spans: list[tuple[int, int, int]] = []
    # One frame per open node: [label, first leaf, column of "(", has a word, has subtrees]
    stack: list[list] = []
    index = 0
    while index < len(tokens):
        token, column = tokens[index]
        index += 1
        if token == "(":
            if not stack and spans:
                fail(column, "text after the end of the tree; expected one tree per line")
            if stack and stack[-1][3]:
                fail(column, f"a subtree after the word {_show(leaves[-1])}; a node holds "
                             "either one word or subtrees")
            label_token, label_column = tokens[index] if index < len(tokens) else (None,
                                                                                  end_column)
            if label_token == ")":
                fail(column, "empty tree '()'; expected '(LABEL WORD)' or '(LABEL subtrees)'")
            if label_token is None or label_token == "(":
                fail(label_column, f"missing label after '('; expected an integer 0-{MAX_LABEL}")
            if not label_token.isdigit() or not label_token.isascii():
                fail(label_column, f"label {_show(label_token)} is not a number; expected an "
                                   f"integer 0-{MAX_LABEL}")
            label = int(label_token)
            if label > MAX_LABEL:
                fail(label_column, f"label {label} is out of range; expected 0-{MAX_LABEL}")
            index += 1
            if stack:
                stack[-1][4] = True
            stack.append([label, len(leaves), column, False, False])
        elif token == ")":
            if not stack:
                fail(column, "unbalanced parentheses: ')' with no matching '('")
            label, start, _, has_word, has_subtrees = stack.pop()
            if not (has_word or has_subtrees):
                fail(column, f"empty tree: the node labelled {label} has no word or subtrees")
            spans.append((start, len(leaves), label))
        else:                                     # a word
            if not stack:
                fail(column, f"text after the end of the tree ({_show(token)}); expected one "
                             "tree per line")
            frame = stack[-1]
            if frame[3]:
                fail(column, f"a second word {_show(token)} in one node; expected ')' after "
                             f"{_show(leaves[-1])}")
            if frame[4]:
                fail(column, f"the word {_show(token)} follows a subtree; a node holds either "
                             "one word or subtrees")
            frame[3] = True
            leaves.append(token)
    if stack:
        fail(end_column, f"unbalanced parentheses: the tree ends with {len(stack)} '(' not "
                         f"closed (the innermost opened at column {stack[-1][2]})")
    return Tree(tuple(leaves), tuple(spans), line_number)


def _show(token: str) -> str:
    return repr(token if len(token) <= 30 else token[:27] + "...")


def parse_trees(text: str, path: str | os.PathLike = "<trees>") -> list[Tree]:
    """Every tree of a text, one per non-blank line (blank lines skipped, as elsewhere)."""
    trees = [parse_tree(line, path, number)
             for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not trees:
        raise RnnlabError(f"{path}: no trees found (only blank lines); expected one SST tree "
                          "per line")
    return trees


def read_trees(path: str | os.PathLike) -> list[Tree]:
    """Every tree of a UTF-8 file (see the module docstring for the errors)."""
    return parse_trees(read_text(path), Path(path))


def looks_like_trees(first_line: str) -> bool:
    """Whether format detection should read a file whose first non-blank line is this as trees."""
    return TREE_START.match(first_line) is not None


# --------------------------------------------------------------------------------------------
# Examples


def sentence_examples(trees: list[Tree], scheme: str, keep_unlabelled: bool = False
                      ) -> list[Example]:
    """One example per tree: the sentence and its root label. Trees the scheme drops (binary:
    a neutral root) are skipped, or kept with label None when `keep_unlabelled` (prediction)."""
    check_scheme(scheme)
    examples = []
    for tree in trees:
        label = scheme_label(tree.label, scheme)
        if label is not None or keep_unlabelled:
            examples.append(Example(tree.text, label, tree.line))
    return examples


def phrase_examples(trees: list[Tree], scheme: str, lowercase: bool = True) -> list[Example]:
    """Every labelled node of every tree as an example, once per distinct (label, text).

    Text is compared lower-cased when `lowercase` (as the default vocabulary sees it), so "The
    film" and "the film" with one label are one example. The first occurrence is kept (its line
    is the tree's); nodes the scheme drops (binary: label 2) are skipped.
    """
    check_scheme(scheme)
    seen: set[tuple[str, str]] = set()
    examples = []
    for tree in trees:
        for text, raw_label in tree.phrases():
            label = scheme_label(raw_label, scheme)
            if label is None:
                continue
            key = (label, text.lower() if lowercase else text)
            if key not in seen:
                seen.add(key)
                examples.append(Example(text, label, tree.line))
    return examples


def tree_examples(trees: list[Tree], options: TreeOptions, require_labels: bool = True
                  ) -> list[Example]:
    """What a tree file gives for training (phrases or sentences), scoring (sentences with a
    label under the scheme) or prediction (every sentence: `require_labels=False`)."""
    if not require_labels:
        return sentence_examples(trees, options.labels, keep_unlabelled=True)
    if options.phrases:
        return phrase_examples(trees, options.labels, options.lowercase)
    return sentence_examples(trees, options.labels)
