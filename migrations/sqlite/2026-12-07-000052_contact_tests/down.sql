DROP TABLE contact_tests;
