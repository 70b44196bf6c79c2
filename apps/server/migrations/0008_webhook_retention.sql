-- The retention job deletes delivered and failed messages by the time of their last change.
create index webhook_messages_retention_idx on webhook_messages (updated_at) where status <> 'pending';
