DROP TABLE IF EXISTS {db}.focus_pending;
