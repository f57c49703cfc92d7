-- What a send left behind: the provider's reference (Twilio's CallSid, the e-mail's
-- Message-ID) shared by every notification a bundled message carried, so a keypress on a
-- call acts on the incidents the call named, and the contact's recent sends (for storm
-- throttling) are found by person and channel.
ALTER TABLE notifications ADD COLUMN provider_ref TEXT;
CREATE INDEX notifications_provider_ref ON notifications (provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX notifications_recent ON notifications (user_id, channel, sent_at) WHERE status = 'sent';
