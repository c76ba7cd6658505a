"""docs/architecture.md's diagram is generated from the synthesized templates and cannot drift."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.infra.synth import synthesize_stacks
from tools.architecture import (
    DOC_PATH,
    build_graph,
    escape,
    generated_block,
    render_block,
    render_mermaid,
    replace_block,
    rule_label,
    short_name,
)


def default_stacks() -> list[tuple[str, dict[str, Any]]]:
    """What `make docs` draws: cdk.json's configuration, environment-agnostic ("default")."""
    return [(artifact.stack_name, artifact.template) for artifact in synthesize_stacks("default").values()]


def test_the_diagram_in_docs_is_the_one_the_templates_give() -> None:
    document = DOC_PATH.read_text(encoding="utf-8")
    assert generated_block(document) == render_block(default_stacks()), (
        "docs/architecture.md's diagram no longer matches the synthesized templates: run `make docs` "
        "and commit docs/architecture.md"
    )


def test_the_diagram_has_every_function_rule_role_bucket_topic_queue_and_the_notebook() -> None:
    stacks = default_stacks()
    graph = build_graph(stacks)
    drawn = {node.id for node in graph.nodes.values()}
    for stack, template in stacks:
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in {
                "AWS::Lambda::Function", "AWS::Events::Rule", "AWS::IAM::Role", "AWS::S3::Bucket",
                "AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::SageMaker::NotebookInstance",
            }:
                assert re.sub(r"\W", "_", f"{stack}_{short_name(logical_id)}") in drawn, (stack, logical_id)


def test_every_rule_target_and_failure_destination_is_an_edge() -> None:
    stacks = default_stacks()
    graph = build_graph(stacks)
    edges = {(edge.source, edge.target) for edge in graph.edges.values()}
    ids = {node.id: node for node in graph.nodes.values()}
    rules = [node_id for node_id in ids if "Rule " in ids[node_id].label]
    # Labeling failed, labeling completed, training ended, tuning ended, evaluation transform ended.
    assert len(rules) == 5
    for rule in rules:
        targets = [target for source, target in edges if source == rule]
        assert any("Function" in target or "Topic" in target for target in targets), rule
        assert any("DeadLetters" in target for target in targets), rule
        assert ("ext_aws_sagemaker", rule) in edges
    for function in [node_id for node_id in ids if node_id.endswith("Function")]:
        assert any(source == function and target.endswith("Role") for source, target in edges), function


def test_a_new_resource_shows_up_and_fails_the_comparison() -> None:
    stacks = default_stacks()
    changed = copy.deepcopy(stacks)
    changed[1][1]["Resources"]["ExtraQueue12345678"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    assert 'ExtraQueue[["ExtraQueue"]]' in render_mermaid(changed)
    assert render_block(changed) != render_block(stacks)


def test_cross_stack_imports_resolve_to_the_exporting_stack() -> None:
    """The notebook (Workflow) runs as the execution role (Data) through Fn::ImportValue."""
    edges = {(edge.source, edge.target, edge.label) for edge in build_graph(default_stacks()).edges.values()}
    notebook_edges = [(src, target) for src, target, label in edges if label == "runs as" and "Notebook" in src]
    assert notebook_edges == [("dev_Workflow_NotebookInstance", "dev_Data_SageMakerExecutionRole")]


def test_bucket_grants_are_labelled_by_object_path() -> None:
    edges = build_graph(default_stacks()).edges.values()
    training = next(
        edge for edge in edges
        if edge.source == "dev_Workflow_TrainingStartTrainingRole" and edge.target == "dev_Data_DataBucket"
    )
    assert "ground-truth-demo/training/*: AbortMultipartUpload, PutObject" in training.label.split("<br/>")


# --- pure helpers ----------------------------------------------------------------------------------


def test_escape_keeps_line_breaks_and_encodes_quotes_and_brackets() -> None:
    assert escape('a "b"<br/>sagemaker-<AWS::Region>') == "a #quot;b#quot;<br/>sagemaker-#lt;AWS::Region#gt;"


def test_short_name_drops_only_the_cdk_hash() -> None:
    assert short_name("LabelingStartLabelingFunction94A507B8") == "LabelingStartLabelingFunction"
    assert short_name("DataBucket") == "DataBucket"
    assert short_name("ABCDEF12") == "ABCDEF12"


def test_rule_label_names_event_statuses_and_name_prefix() -> None:
    pattern = {
        "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"TrainingJobStatus": ["Completed", "Failed"], "TrainingJobName": [{"prefix": "gt-demo"}]},
    }
    assert rule_label(pattern) == "SageMaker Training Job State Change: Completed / Failed<br/>name gt-demo*"


def test_replace_block_needs_both_markers() -> None:
    with pytest.raises(ValueError, match="no generated part"):
        replace_block("# Architecture\n", "block")
