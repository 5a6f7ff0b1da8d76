-- 0005 reverted: the supporting dataset tables and the FOCUS 1.3 columns go (their data with them).

DROP TABLE IF EXISTS {db}.contract_commitment;

DROP TABLE IF EXISTS {db}.billing_period;

DROP TABLE IF EXISTS {db}.invoice_detail;

ALTER TABLE {db}.focus
    DROP COLUMN IF EXISTS `AllocatedMethodId`,
    DROP COLUMN IF EXISTS `AllocatedMethodDetails`,
    DROP COLUMN IF EXISTS `AllocatedResourceId`,
    DROP COLUMN IF EXISTS `AllocatedResourceName`,
    DROP COLUMN IF EXISTS `AllocatedTags`,
    DROP COLUMN IF EXISTS `ContractApplied`;

ALTER TABLE {db}.focus_staging
    DROP COLUMN IF EXISTS `AllocatedMethodId`,
    DROP COLUMN IF EXISTS `AllocatedMethodDetails`,
    DROP COLUMN IF EXISTS `AllocatedResourceId`,
    DROP COLUMN IF EXISTS `AllocatedResourceName`,
    DROP COLUMN IF EXISTS `AllocatedTags`,
    DROP COLUMN IF EXISTS `ContractApplied`;

ALTER TABLE {db}.focus_pending
    DROP COLUMN IF EXISTS `AllocatedMethodId`,
    DROP COLUMN IF EXISTS `AllocatedMethodDetails`,
    DROP COLUMN IF EXISTS `AllocatedResourceId`,
    DROP COLUMN IF EXISTS `AllocatedResourceName`,
    DROP COLUMN IF EXISTS `AllocatedTags`,
    DROP COLUMN IF EXISTS `ContractApplied`;
