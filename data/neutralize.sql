-- gelato_connector: a neutralized copy (staging, test) keeps no Gelato secret, sends nothing to
-- Gelato and accepts no webhook. The client refuses every call while the marker is set.
UPDATE res_company
   SET gelato_api_key = NULL,
       gelato_webhook_secret = NULL,
       gelato_enabled = FALSE;
INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date)
VALUES ('gelato_connector.neutralized', 'True', 1, 1,
        now() at time zone 'UTC', now() at time zone 'UTC')
ON CONFLICT (key) DO UPDATE SET value = 'True';
UPDATE ir_config_parameter
   SET value = 'https://{service}.gelatoapis.invalid'
 WHERE key = 'gelato_connector.api_url_template';
