DELETE FROM processing_versions WHERE job = 'chat_delivery';
DROP INDEX incidents_resolved;
DROP TABLE postmortem_action_items;
DROP TABLE postmortems;
DROP TABLE chat_posts;
DROP TABLE chat_channels;
DROP TABLE subscriptions;
DROP TABLE status_updates;
