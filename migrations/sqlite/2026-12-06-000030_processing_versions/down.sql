DROP TABLE processing_versions;
