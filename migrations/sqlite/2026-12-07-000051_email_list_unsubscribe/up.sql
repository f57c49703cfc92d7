-- RFC 8058 one-click unsubscribe: the URL an e-mail's List-Unsubscribe header names (status
-- updates to subscribers); NULL for e-mails that are not to a list.
ALTER TABLE emails ADD COLUMN list_unsubscribe TEXT;
