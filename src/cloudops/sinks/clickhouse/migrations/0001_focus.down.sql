-- Reverts 0001: drops the FOCUS fact table (data is lost).
DROP TABLE IF EXISTS {db}.focus;
