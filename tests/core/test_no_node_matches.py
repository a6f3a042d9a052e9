"""'no node matches' names the labels the nodes have (issue 14, the first five minutes), so a
wrong --select is fixed without reading the docs."""

from __future__ import annotations

import pytest

from codsh.core.model import InputFile
from codsh.core.plan import Node, PlacementError, place

NODES = [
    Node("tcp://a", labels={"devstack": "node0", "zone": "eu"}),
    Node("tcp://b", labels={"devstack": "node1"}),
]
FILES = [InputFile("a.txt", "bafkreiaaaa", 10)]


def test_no_node_matches_lists_the_labels_that_exist() -> None:
    with pytest.raises(PlacementError) as caught:
        place(FILES, {}, NODES, select={"devstack": "node7"})
    assert "devstack=node7" in str(caught.value)
    assert "the labels there: devstack=node0, devstack=node1, zone=eu" in str(caught.value)


def test_nodes_without_labels_say_so() -> None:
    with pytest.raises(PlacementError, match="none has a label"):
        place(FILES, {}, [Node("tcp://a")], select={"gpu": "yes"})
