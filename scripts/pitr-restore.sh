#!/usr/bin/env bash
# Point-in-time restore of a stack's DB instance into a NEW instance, with a smoke check.
#
#   scripts/pitr-restore.sh <stack-name> <restore-time|latest> [region]
#
# The new instance is <stack>-db-restore-<UTC time>, in the stack's subnet group, security group,
# parameter group and KMS key, not publicly accessible, with RDS managing a new owner secret. The
# script waits until it is available, then checks status, encryption and accessibility and prints
# its endpoint and owner secret. Comparing the data is scripts/restore_drill.py --source-url
# --target-url, run from a host that reaches both instances (docs/INFRASTRUCTURE.md, "Restore").
# Nothing existing is modified; delete the drill instance afterwards.
set -euo pipefail

stack=${1:?usage: pitr-restore.sh <stack-name> <restore-time|latest> [region]}
when=${2:?usage: pitr-restore.sh <stack-name> <restore-time|latest> [region]}
region=${3:-${AWS_REGION:-us-east-1}}
aws() { command aws --region "$region" --output text "$@"; }

source_id="${stack}-db"
target_id="${stack}-db-restore-$(date -u +%Y%m%d%H%M)"
read -r subnet_group param_group kms_key multi_az < <(aws rds describe-db-instances \
  --db-instance-identifier "$source_id" \
  --query 'DBInstances[0].[DBSubnetGroup.DBSubnetGroupName,DBParameterGroups[0].DBParameterGroupName,KmsKeyId,MultiAZ]')
security_groups=$(aws rds describe-db-instances --db-instance-identifier "$source_id" \
  --query 'DBInstances[0].VpcSecurityGroups[].VpcSecurityGroupId')

if [[ "$when" == latest ]]; then
  time_args=(--use-latest-restorable-time)
else
  time_args=(--restore-time "$when")
fi

echo "restoring $source_id at $when into $target_id" >&2
aws rds restore-db-instance-to-point-in-time \
  --source-db-instance-identifier "$source_id" \
  --target-db-instance-identifier "$target_id" \
  "${time_args[@]}" \
  --db-subnet-group-name "$subnet_group" \
  --vpc-security-group-ids $security_groups \
  --db-parameter-group-name "$param_group" \
  --no-publicly-accessible \
  --no-multi-az \
  --manage-master-user-password \
  --master-user-secret-kms-key-id "$kms_key" \
  --copy-tags-to-snapshot \
  --tags "Key=restore-drill-of,Value=$source_id" >/dev/null
[[ "$multi_az" == True ]] && echo "note: the drill instance is single-AZ (the source is Multi-AZ)" >&2

aws rds wait db-instance-available --db-instance-identifier "$target_id"

read -r status encrypted public endpoint secret < <(aws rds describe-db-instances \
  --db-instance-identifier "$target_id" \
  --query 'DBInstances[0].[DBInstanceStatus,StorageEncrypted,PubliclyAccessible,Endpoint.Address,MasterUserSecret.SecretArn]')
fail=0
[[ "$status" == available ]] || { echo "smoke check: status is $status" >&2; fail=1; }
[[ "$encrypted" == True ]] || { echo "smoke check: storage is not encrypted" >&2; fail=1; }
[[ "$public" == False ]] || { echo "smoke check: the instance is publicly accessible" >&2; fail=1; }
echo "instance:     $target_id"
echo "endpoint:     $endpoint"
echo "owner secret: $secret"
exit $fail
