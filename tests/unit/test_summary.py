from workflow.summary import summarize


def test_summary_counts_resources_and_hides_cross_stack_exports() -> None:
    template = {
        "Resources": {"A": {"Type": "AWS::S3::Bucket"}, "B": {"Type": "AWS::S3::Bucket"},
                      "C": {"Type": "AWS::IAM::Role"}},
        "Outputs": {"BucketName": {}, "ExportsOutputRefDataBucket1234": {}},
    }
    assert summarize(template) == ["    1  AWS::IAM::Role", "    2  AWS::S3::Bucket", "  outputs: BucketName"]
