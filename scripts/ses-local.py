"""SES on an AWS emulator, as terraform's modules/ses sets it up in AWS: a verified sending domain whose bounces and
complaints are published to the ses-feedback topic (which fans out to the ses-suppressor's queue).

Used by `make up` (scripts/stack.sh) and by docker-compose's `ses-setup` step, so both stacks send from the same
kind of identity. Reads the emulator from AWS_ENDPOINT_URL and AWS_REGION.

    python3 scripts/ses-local.py DOMAIN FEEDBACK_TOPIC_ARN
"""

import os
import sys

import boto3


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    domain, topic = sys.argv[1], sys.argv[2]
    ses = boto3.client("ses", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    ses.verify_domain_identity(Domain=domain)
    for kind in ("Bounce", "Complaint"):
        ses.set_identity_notification_topic(Identity=domain, NotificationType=kind, SnsTopic=topic)
    print(f"SES: {domain} verified; bounces and complaints go to {topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
