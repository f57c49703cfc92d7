DELETE FROM processing_versions WHERE job = 'notification_delivery';
DROP TABLE notifications;
