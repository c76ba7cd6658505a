"""The policies CloudFormation would create, resolved to plain JSON: per role its identity
policies, per bucket its bucket policy.

The input is the templates themselves (deployed to the emulator, or synthesized) plus the
physical ids the emulator gave their resources, so the ARNs in the policies are the ARNs the
recorded calls name. Only the intrinsics these templates use are resolved; anything else is an
error that names it, never a silent guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


# Properties that set a resource's physical name (a template that names a resource fixes it).
_NAME_PROPERTIES = ("BucketName", "RoleName", "FunctionName", "TopicName", "QueueName", "LogGroupName",
                    "NotebookInstanceName", "ModelPackageGroupName")


class ResolveError(ValueError):
    """A template construct the rehearsal does not understand: extend the resolver, don't guess."""


@dataclass(frozen=True)
class StackInput:
    name: str
    template: Mapping[str, Any]
    physical_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentityPolicy:
    role_arn: str
    name: str  # "<stack>/<logical id>"
    document: Mapping[str, Any]  # statements carry unique Sids (see `_with_sids`)


@dataclass(frozen=True)
class Policies:
    identity: Mapping[str, tuple[IdentityPolicy, ...]]  # role ARN -> policies
    buckets: Mapping[str, Mapping[str, Any]]  # bucket name -> bucket policy document
    bucket_kms_keys: Mapping[str, str]  # bucket name -> KMS key ARN of its default encryption
    roles: Mapping[str, str]  # "<stack>/<role logical id>" -> role ARN

    def role(self, stack_suffix: str, logical_prefix: str) -> str:
        """The ARN of the one role whose stack ends with `stack_suffix` and logical id starts with `logical_prefix`."""
        found = [arn for key, arn in self.roles.items()
                 if key.split("/")[0].endswith(stack_suffix) and key.split("/")[1].startswith(logical_prefix)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} roles match {stack_suffix}/{logical_prefix}*: {sorted(self.roles)}")
        return found[0]


def load_policies(stacks: list[StackInput], *, account: str = ACCOUNT, region: str = REGION) -> Policies:
    resolver = _Resolver(stacks, account=account, region=region)
    identity: dict[str, list[IdentityPolicy]] = {}
    buckets: dict[str, Mapping[str, Any]] = {}
    kms: dict[str, str] = {}
    roles: dict[str, str] = {}
    for stack in stacks:
        for logical_id, resource in stack.template.get("Resources", {}).items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::Role":
                arn = resolver.role_arn(stack, logical_id)
                roles[f"{stack.name}/{logical_id}"] = arn
                if props.get("ManagedPolicyArns") or props.get("PermissionsBoundary"):
                    raise ResolveError(f"{stack.name}/{logical_id}: managed policies and boundaries are not "
                                       "evaluated by this rehearsal; resolve them before adding any")
                for inline in props.get("Policies", []):
                    name = f"{stack.name}/{logical_id}/{inline['PolicyName']}"
                    identity.setdefault(arn, []).append(
                        IdentityPolicy(arn, name, _with_sids(resolver.resolve(inline["PolicyDocument"], stack), name)))
            elif kind == "AWS::IAM::Policy":
                name = f"{stack.name}/{logical_id}"
                document = _with_sids(resolver.resolve(props["PolicyDocument"], stack), name)
                if props.get("Users") or props.get("Groups"):
                    raise ResolveError(f"{name}: policies on users or groups are not part of this workflow")
                for role_name in resolver.resolve(props.get("Roles", []), stack):
                    arn = f"arn:{PARTITION}:iam::{account}:role/{role_name}"
                    identity.setdefault(arn, []).append(IdentityPolicy(arn, name, document))
            elif kind == "AWS::S3::BucketPolicy":
                bucket = resolver.resolve(props["Bucket"], stack)
                buckets[bucket] = _with_sids(resolver.resolve(props["PolicyDocument"], stack),
                                             f"{stack.name}/{logical_id}")
            elif kind == "AWS::S3::Bucket":
                name = resolver.resolve({"Ref": logical_id}, stack)
                for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                    default = rule.get("ServerSideEncryptionByDefault", {})
                    if default.get("SSEAlgorithm") == "aws:kms":
                        kms[name] = resolver.resolve(default["KMSMasterKeyID"], stack)
            elif kind == "AWS::IAM::ManagedPolicy":
                raise ResolveError(f"{stack.name}/{logical_id}: managed policies are not evaluated yet")
    return Policies(
        identity={arn: tuple(policies) for arn, policies in identity.items()},
        buckets=buckets,
        bucket_kms_keys=kms,
        roles=roles,
    )


def _with_sids(document: Mapping[str, Any], policy_name: str) -> dict[str, Any]:
    """Every statement gets a Sid unique in its policy, so a match can be traced to it; the
    original Sid (if any) is kept in front for the reader."""
    statements = document["Statement"]
    if isinstance(statements, Mapping):
        statements = [statements]
    tagged = []
    for index, statement in enumerate(statements):
        original = statement.get("Sid", "")
        tagged.append({**statement, "Sid": f"{original}S{index}"})
    return {**document, "Statement": tagged}


class _Resolver:
    def __init__(self, stacks: list[StackInput], *, account: str, region: str) -> None:
        self.account, self.region = account, region
        self.stacks = {stack.name: stack for stack in stacks}
        self.exports: dict[str, tuple[StackInput, Any]] = {}
        for stack in stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None:
                    self.exports[str(self.resolve(export, stack))] = (stack, output["Value"])

    def physical(self, stack: StackInput, logical_id: str) -> str:
        if logical_id not in stack.template.get("Resources", {}):
            raise ResolveError(f"{stack.name}: no resource {logical_id}")
        if logical_id in stack.physical_ids:
            return stack.physical_ids[logical_id]
        # Not deployed (a synthesized variant): the name the template gives, else a stable
        # stand-in, as CloudFormation makes one.
        properties = stack.template["Resources"][logical_id].get("Properties", {})
        for key in _NAME_PROPERTIES:
            name = self.resolve(properties.get(key), stack)
            if isinstance(name, str) and name:
                return name
        return f"{stack.name}-{logical_id}"

    def role_arn(self, stack: StackInput, logical_id: str) -> str:
        return f"arn:{PARTITION}:iam::{self.account}:role/{self.physical(stack, logical_id)}"

    def resolve(self, value: Any, stack: StackInput) -> Any:
        if isinstance(value, list):
            return [self.resolve(item, stack) for item in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(item, stack) for key, item in value.items()}
        (function, argument), = value.items()
        if function == "Ref":
            return self._ref(argument, stack)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part, stack)) for part in parts)
        if function == "Fn::ImportValue":
            name = self.resolve(argument, stack)
            if name not in self.exports:
                raise ResolveError(f"{stack.name}: import {name!r} matches no export of the given stacks")
            exporting, exported = self.exports[name]
            return self.resolve(exported, exporting)
        if function == "Fn::FindInMap":
            mapping, first, second = (self.resolve(part, stack) for part in argument)
            return stack.template["Mappings"][mapping][first][second]
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items, stack)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text, stack)).split(separator)
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub(m.group(1), stack)), argument)
        raise ResolveError(f"{stack.name}: intrinsic {function} is not resolved by the rehearsal")

    def _sub(self, name: str, stack: StackInput) -> Any:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self._get_att(stack, logical_id, attribute)
        return self._ref(name, stack)

    def _ref(self, name: str, stack: StackInput) -> Any:
        pseudo = {"AWS::AccountId": self.account, "AWS::Region": self.region, "AWS::Partition": PARTITION,
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack.name}
        if name in pseudo:
            return pseudo[name]
        if name in stack.template.get("Parameters", {}):
            raise ResolveError(f"{stack.name}: parameter {name} has no value in the rehearsal")
        kind = stack.template["Resources"][name]["Type"] if name in stack.template.get("Resources", {}) else None
        physical = self.physical(stack, name)
        if kind in ("AWS::IAM::Role", "AWS::S3::Bucket", "AWS::Lambda::Function", "AWS::Logs::LogGroup"):
            return physical
        if kind == "AWS::Cognito::UserPool":  # Ref is the pool id, <region>_<suffix>
            return physical if physical.startswith(f"{self.region}_") else f"{self.region}_{physical}"
        if kind == "AWS::SNS::Topic":  # Ref is the topic ARN
            return physical if physical.startswith("arn:") else self._arn("sns", physical)
        if kind == "AWS::SQS::Queue":  # Ref is the queue URL
            return physical
        raise ResolveError(f"{stack.name}: Ref to {name} ({kind}) is not resolved by the rehearsal")

    def _get_att(self, stack: StackInput, logical_id: str, attribute: str) -> str:
        kind = stack.template["Resources"][logical_id]["Type"]
        physical = self.physical(stack, logical_id)
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return self.role_arn(stack, logical_id)
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:{PARTITION}:s3:::{physical}"
        if (kind, attribute) == ("AWS::Logs::LogGroup", "Arn"):
            return self._arn("logs", f"log-group:{physical}:*")
        if (kind, attribute) == ("AWS::SQS::Queue", "Arn"):
            return self._arn("sqs", physical.rstrip("/").rsplit("/", 1)[-1])
        if (kind, attribute) == ("AWS::Lambda::Function", "Arn"):
            return self._arn("lambda", f"function:{physical}")
        if (kind, attribute) == ("AWS::SNS::Topic", "TopicArn"):
            return self._ref(logical_id, stack)
        if (kind, attribute) == ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName"):
            properties = stack.template["Resources"][logical_id].get("Properties", {})
            return str(self.resolve(properties.get("ModelPackageGroupName", physical), stack))
        raise ResolveError(f"{stack.name}: GetAtt {logical_id}.{attribute} ({kind}) is not resolved by the rehearsal")

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{self.account}:{resource}"


@dataclass(frozen=True)
class FunctionInfo:
    """What the Lambda service does with a function's role when it runs: write its logs, and send
    a failed asynchronous invocation to its on-failure destination."""

    logical_id: str
    role_arn: str
    log_group: str | None
    failure_queue_arn: str | None


def lambda_functions(stacks: list[StackInput], *, account: str = ACCOUNT, region: str = REGION) -> list[FunctionInfo]:
    resolver = _Resolver(stacks, account=account, region=region)
    found = []
    for stack in stacks:
        resources = stack.template.get("Resources", {})
        destinations = {}
        for resource in resources.values():
            if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
                props = resource["Properties"]
                target = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                if target is not None:
                    destinations[str(resolver.resolve(props["FunctionName"], stack))] = resolver.resolve(target, stack)
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            props = resource["Properties"]
            log_group = props.get("LoggingConfig", {}).get("LogGroup")
            name = str(resolver.resolve({"Ref": logical_id}, stack))
            found.append(FunctionInfo(
                logical_id=logical_id,
                role_arn=str(resolver.resolve(props["Role"], stack)),
                log_group=str(resolver.resolve(log_group, stack)) if log_group is not None else None,
                failure_queue_arn=destinations.get(name),
            ))
    return found


def resolve(stacks: list[StackInput], stack_name: str, value: Any, *, account: str = ACCOUNT,
            region: str = REGION) -> Any:
    """`value` (a template fragment such as {"Ref": "Topic"}) resolved in the named stack."""
    resolver = _Resolver(stacks, account=account, region=region)
    [stack] = [s for s in stacks if s.name == stack_name]
    return resolver.resolve(value, stack)
