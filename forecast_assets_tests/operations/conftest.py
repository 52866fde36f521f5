"""Alert test fixtures: an SNS topic on the moto server with an SQS queue subscribed to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

REGION = "us-east-1"


@pytest.fixture
def sns_topic_with_queue(moto_server: str, aws_test_credentials) -> Iterator[tuple[str, object, str]]:
    """(topic ARN, SQS client, queue URL) — the queue receives what is published to the topic."""
    name = f"forecast-alerts-{uuid.uuid4().hex[:8]}"
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_server)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server)
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    yield topic_arn, sqs, queue_url
    sns.delete_topic(TopicArn=topic_arn)
    sqs.delete_queue(QueueUrl=queue_url)
