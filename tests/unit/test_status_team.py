"""`workflow status` shows the labeling team: its portal and how many invited workers accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from workflow import status

REGION = "us-east-1"
POOL = "us-east-1_AbCdEf123"
TEAM_ARN = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/prod-labeling-labelers"
WHEN = datetime(2026, 12, 2, tzinfo=UTC)


def clients() -> tuple[Any, Any]:
    kwargs = {"region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("sagemaker", **kwargs), boto3.client("cognito-idp", **kwargs)


def factory(sagemaker: Any, cognito: Any) -> Any:
    return {"sagemaker": sagemaker, "cognito-idp": cognito}.__getitem__


def workteam(members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Workteam": {
        "WorkteamName": "prod-labeling-labelers", "MemberDefinitions": members, "WorkteamArn": TEAM_ARN,
        "Description": "team", "SubDomain": "abc123xyz.labeling.us-east-1.sagemaker.aws",
        "CreateDate": WHEN, "LastUpdatedDate": WHEN}}


def user(name: str, state: str) -> dict[str, Any]:
    return {"Username": name, "UserStatus": state, "Enabled": True, "UserCreateDate": WHEN}


def test_public_crowd_needs_no_call() -> None:
    def no_client(service: str) -> Any:
        raise AssertionError(f"no {service} client is needed for Mechanical Turk")

    team = status.team_status(no_client, "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default")
    assert team.lines() == ["Team: Amazon Mechanical Turk (public crowd)"]


def test_a_private_team_counts_accepted_workers_over_every_page() -> None:
    sagemaker, cognito = clients()
    group = {"CognitoMemberDefinition": {"UserPool": POOL, "UserGroup": "labelers", "ClientId": "abc123"}}
    with Stubber(sagemaker) as sm, Stubber(cognito) as idp:
        sm.add_response("describe_workteam", workteam([group]), {"WorkteamName": "prod-labeling-labelers"})
        idp.add_response("list_users_in_group", {
            "Users": [user("ann@example.com", "CONFIRMED"), user("bob@example.com", "FORCE_CHANGE_PASSWORD")],
            "NextToken": "page-2"}, {"UserPoolId": POOL, "GroupName": "labelers"})
        idp.add_response("list_users_in_group", {"Users": [user("cy@example.com", "CONFIRMED")]},
                         {"UserPoolId": POOL, "GroupName": "labelers", "NextToken": "page-2"})
        team = status.team_status(factory(sagemaker, cognito), TEAM_ARN)
        sm.assert_no_pending_responses()
        idp.assert_no_pending_responses()
    assert (team.invited, team.accepted) == (3, 2)
    assert team.lines() == [
        "Team: private team prod-labeling-labelers",
        "  labeling portal: https://abc123xyz.labeling.us-east-1.sagemaker.aws",
        "  workers: 2 of 3 invited accepted (signed in and set a password)",
    ]


def test_an_empty_team_says_to_invite_workers() -> None:
    sagemaker, cognito = clients()
    group = {"CognitoMemberDefinition": {"UserPool": POOL, "UserGroup": "labelers", "ClientId": "abc123"}}
    with Stubber(sagemaker) as sm, Stubber(cognito) as idp:
        sm.add_response("describe_workteam", workteam([group]), {"WorkteamName": "prod-labeling-labelers"})
        idp.add_response("list_users_in_group", {"Users": []}, {"UserPoolId": POOL, "GroupName": "labelers"})
        team = status.team_status(factory(sagemaker, cognito), TEAM_ARN)
    assert (team.invited, team.accepted) == (0, 0)
    assert any("invite workers" in note for note in team.notes)


@pytest.mark.parametrize(("failing", "note"), [
    ("describe_workteam", "DescribeWorkteam failed: AccessDeniedException"),
    ("list_users_in_group", "ListUsersInGroup(labelers) failed: AccessDeniedException"),
])
def test_denied_calls_become_notes_not_crashes(failing: str, note: str) -> None:
    sagemaker, cognito = clients()
    group = {"CognitoMemberDefinition": {"UserPool": POOL, "UserGroup": "labelers", "ClientId": "abc123"}}
    with Stubber(sagemaker) as sm, Stubber(cognito) as idp:
        if failing == "describe_workteam":
            sm.add_client_error("describe_workteam", "AccessDeniedException")
        else:
            sm.add_response("describe_workteam", workteam([group]), {"WorkteamName": "prod-labeling-labelers"})
            idp.add_client_error("list_users_in_group", "AccessDeniedException")
        team = status.team_status(factory(sagemaker, cognito), TEAM_ARN)
    assert note in team.notes and team.accepted is None


def test_an_oidc_team_is_not_counted() -> None:
    sagemaker, cognito = clients()
    with Stubber(sagemaker) as sm, Stubber(cognito):
        sm.add_response("describe_workteam", workteam([{"OidcMemberDefinition": {"Groups": ["labelers"]}}]),
                        {"WorkteamName": "prod-labeling-labelers"})
        team = status.team_status(factory(sagemaker, cognito), TEAM_ARN)
    assert team.invited is None and any("OIDC" in note for note in team.notes)
