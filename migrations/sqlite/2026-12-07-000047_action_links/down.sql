DROP TABLE used_action_links;
DELETE FROM server_keys WHERE name = 'action_links';
