ALTER TABLE `one_time_tokens` ADD `platform_name` text;--> statement-breakpoint
ALTER TABLE `one_time_tokens` ADD `logo_url` text;--> statement-breakpoint
ALTER TABLE `one_time_tokens` ADD `return_url` text;