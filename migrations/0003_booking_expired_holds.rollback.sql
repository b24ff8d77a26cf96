DROP TABLE IF EXISTS expired_holds;
